package storetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

func chunk(stream string, seq int64, data string) store.LogChunk {
	return store.LogChunk{Stream: stream, Seq: seq, Time: at(int(seq)), Data: []byte(data)}
}

// strip keeps what a reader compares: stream, seq, time, data.
func strip(cs []store.LogChunk) []store.LogChunk {
	out := make([]store.LogChunk, len(cs))
	for i, c := range cs {
		out[i] = store.LogChunk{Stream: c.Stream, Seq: c.Seq, Time: c.Time, Data: c.Data}
	}
	return out
}

func testLogs(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "l", "w")
	batch := []store.LogChunk{
		chunk("stdout", 1, "hello\n"),
		chunk("stderr", 1, "warn\n"),
		{Stream: "stdout", Seq: 2, Time: at(2), Data: []byte{0xff, 0xfe, 0, '\n'}},
	}
	require.NoError(t, s.AppendLogs(ctx, ref(j), batch))
	require.NoError(t, s.AppendLogs(ctx, ref(j), nil), "an empty batch is fine")
	require.NoError(t, s.AppendLogs(ctx, ref(j), []store.LogChunk{chunk("stdout", 3, "bye\n")}))

	all, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID})
	require.NoError(t, err)
	require.Equal(t, strip(append(batch, chunk("stdout", 3, "bye\n"))), strip(all))
	for i, c := range all {
		require.Equal(t, j.ID, c.JobID)
		require.Equal(t, 1, c.Attempt)
		if i > 0 {
			require.Greater(t, c.ID, all[i-1].ID)
		}
	}

	after, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, AfterID: all[1].ID})
	require.NoError(t, err)
	require.Equal(t, all[2:], after, "resume after a cursor")
	limited, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, AfterID: all[0].ID, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, all[1:3], limited)
	end, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, AfterID: all[3].ID})
	require.NoError(t, err)
	require.Empty(t, end)

	stderr, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, Streams: []string{"stderr"}})
	require.NoError(t, err)
	require.Equal(t, []store.LogChunk{all[1]}, stderr)
	stdout, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, Streams: []string{"stdout"}, AfterID: all[0].ID})
	require.NoError(t, err)
	require.Equal(t, []store.LogChunk{all[2], all[3]}, stdout)
	both, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, Streams: []string{"stdout", "stderr"}})
	require.NoError(t, err)
	require.Equal(t, all, both)

	// Another job's logs stay apart.
	k := claimOne(t, s, "other", "w")
	require.NoError(t, s.AppendLogs(ctx, ref(k), []store.LogChunk{chunk("stdout", 1, "k")}))
	again, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID})
	require.NoError(t, err)
	require.Equal(t, all, again)
	none, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: "nope"})
	require.NoError(t, err)
	require.Empty(t, none)
}

func testLogsDedup(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "d", "w")
	first := []store.LogChunk{chunk("stdout", 1, "a"), chunk("stdout", 2, "b")}
	require.NoError(t, s.AppendLogs(ctx, ref(j), first))
	stored, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID})
	require.NoError(t, err)

	// The worker did not hear the answer and sends the batch again, with
	// one more chunk, and a duplicate within the batch.
	retry := []store.LogChunk{chunk("stdout", 1, "a"), chunk("stdout", 2, "b"),
		chunk("stdout", 3, "c"), chunk("stdout", 3, "c"), chunk("stderr", 1, "e")}
	require.NoError(t, s.AppendLogs(ctx, ref(j), retry))
	all, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID})
	require.NoError(t, err)
	require.Equal(t, stored, all[:2], "stored chunks keep their IDs")
	require.Equal(t, strip([]store.LogChunk{chunk("stdout", 1, "a"), chunk("stdout", 2, "b"),
		chunk("stdout", 3, "c"), chunk("stderr", 1, "e")}), strip(all))
}

// testLogsRacingRetry: an upload and its retry (the worker timed out
// waiting for the first) arrive together; both succeed and each chunk is
// stored once, in order.
func testLogsRacingRetry(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "rr", "w")
	var want []store.LogChunk
	for round := range 10 {
		var batch []store.LogChunk
		for i := range 20 {
			seq := int64(round*20 + i + 1)
			batch = append(batch, chunk("stdout", seq, fmt.Sprintf("line %d\n", seq)))
		}
		want = append(want, batch...)
		const racers = 6
		start := make(chan struct{})
		errs := make(chan error, racers)
		for range racers {
			go func() {
				<-start
				errs <- s.AppendLogs(ctx, ref(j), batch)
			}()
		}
		close(start)
		for range racers {
			require.NoError(t, <-errs)
		}
	}
	all, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, Limit: 1000})
	require.NoError(t, err)
	require.Equal(t, strip(want), strip(all))
}

func testLogsFencing(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "lf", "w")
	require.NoError(t, s.AppendLogs(ctx, ref(j), []store.LogChunk{chunk("stdout", 1, "a")}))
	_, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1, State: store.StateSucceeded, ExitCode: intp(0), Now: at(2)})
	require.NoError(t, err)
	err = s.AppendLogs(ctx, ref(j), []store.LogChunk{chunk("stdout", 2, "late")})
	require.ErrorIs(t, err, store.ErrStaleAttempt)
	err = s.AppendLogs(ctx, store.AttemptRef{JobID: "nope", Attempt: 1}, []store.LogChunk{chunk("stdout", 1, "x")})
	require.ErrorIs(t, err, store.ErrNotFound)
	all, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID})
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func testLogsDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "many", "w")
	batch := make([]store.LogChunk, 1005)
	for i := range batch {
		batch[i] = chunk("stdout", int64(i), "x")
	}
	require.NoError(t, s.AppendLogs(ctx, ref(j), batch))
	got, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID})
	require.NoError(t, err)
	require.Len(t, got, 1000)
	for i, c := range got {
		require.Equal(t, int64(i), c.Seq, "chunks keep the order they were sent in")
	}
	rest, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: j.ID, AfterID: got[999].ID})
	require.NoError(t, err)
	require.Len(t, rest, 5)
}

func testLogOffsets(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "o", "w")
	none, err := s.LogOffsets(ctx, ref(j))
	require.NoError(t, err)
	require.Empty(t, none)
	require.NoError(t, s.AppendLogs(ctx, ref(j), []store.LogChunk{
		chunk("stdout", 1, "hello\n"), chunk("stderr", 1, "e"), chunk("stdout", 2, "world\n"),
	}))
	// A retried chunk counts once.
	require.NoError(t, s.AppendLogs(ctx, ref(j), []store.LogChunk{chunk("stdout", 2, "world\n")}))
	got, err := s.LogOffsets(ctx, ref(j))
	require.NoError(t, err)
	require.Equal(t, map[string]store.LogOffset{
		"stdout": {Bytes: 12, LastSeq: 2},
		"stderr": {Bytes: 1, LastSeq: 1},
	}, got)
}

// testLogLimitAndFailure: a job's log limit defaults and round-trips, its
// truncation mark needs the current attempt, and a failure summary is
// stored with the result and cleared when a retry queues the job again.
func testLogLimitAndFailure(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "lim", "w")
	require.Equal(t, int64(store.DefaultLogLimit), j.LogLimit)
	require.False(t, j.LogsTruncated)

	nj := newJob("big")
	nj.LogLimit = 64 << 20
	nj.Retries = 1
	k := claimAt(t, s, nj, "w", 2)
	require.Equal(t, int64(64<<20), k.LogLimit)
	require.ErrorIs(t, s.MarkLogsTruncated(ctx, store.AttemptRef{JobID: k.ID, Attempt: 2}), store.ErrStaleAttempt)
	require.NoError(t, s.MarkLogsTruncated(ctx, ref(k)))
	require.NoError(t, s.MarkLogsTruncated(ctx, ref(k)), "marking twice is fine")
	got, err := s.GetJob(ctx, k.ID)
	require.NoError(t, err)
	require.True(t, got.LogsTruncated)
	require.False(t, mustGet(t, s, j.ID).LogsTruncated, "other jobs are untouched")

	const summary = `{"exception":"ZeroDivisionError","file":"a.py","line":3}`
	p := store.FinishParams{JobID: k.ID, Attempt: 1, State: store.StateFailed, ExitCode: intp(1),
		Reason: "exit_code", Message: "exited with code 1", Failure: summary, Now: at(3)}
	requeued, err := s.FinishAttempt(ctx, p)
	require.NoError(t, err)
	require.Equal(t, store.StateQueued, requeued.State)
	require.Empty(t, requeued.Failure, "a requeued job keeps no result")
	again, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(4)})
	require.NoError(t, err)
	require.Len(t, again, 1)
	p.Attempt, p.Now = 2, at(5)
	done, err := s.FinishAttempt(ctx, p)
	require.NoError(t, err)
	require.Equal(t, summary, done.Failure)
	require.Equal(t, done, mustGet(t, s, k.ID))
	require.ErrorIs(t, s.MarkLogsTruncated(ctx, store.AttemptRef{JobID: k.ID, Attempt: 2}), store.ErrStaleAttempt,
		"a finished attempt")
}

func mustGet(t *testing.T, s store.Store, id string) store.Job {
	t.Helper()
	j, err := s.GetJob(t.Context(), id)
	require.NoError(t, err)
	return j
}
