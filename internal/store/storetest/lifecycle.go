package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

func testCancelQueued(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJobs(t, s, "c", 1)
	j, err := s.RequestCancel(ctx, "c-0", at(5))
	require.NoError(t, err)
	require.Equal(t, store.StateCanceled, j.State)
	require.Equal(t, "canceled", j.Reason)
	require.Equal(t, "canceled before it started", j.Message)
	require.Equal(t, timep(at(5)), j.FinishedAt)
	require.Nil(t, j.ExitCode)
	require.Zero(t, j.Attempt)

	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 5, Now: at(6)})
	require.NoError(t, err)
	require.Empty(t, got, "a canceled job is never claimed")

	_, err = s.RequestCancel(ctx, "nope", at(5))
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testCancelActive(t *testing.T, s store.Store) {
	ctx := t.Context()
	leased := claimOne(t, s, "leased", "w1")
	running := claimOne(t, s, "running", "w1")
	_, err := s.StartAttempt(ctx, ref(running), at(2))
	require.NoError(t, err)

	for _, j := range []store.Job{leased, running} {
		before, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		got, err := s.RequestCancel(ctx, j.ID, at(3))
		require.NoError(t, err)
		require.True(t, got.CancelRequested)
		require.Equal(t, before.State, got.State, "the worker ends the job, not the cancel")
		require.Nil(t, got.FinishedAt)
		// Asking twice is harmless.
		again, err := s.RequestCancel(ctx, j.ID, at(4))
		require.NoError(t, err)
		require.True(t, again.CancelRequested)
	}
	stop, err := s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.ElementsMatch(t, []store.AttemptRef{ref(leased), ref(running)}, stop)

	// The worker reports the kill; then nothing is left to stop.
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "running", Attempt: 1,
		State: store.StateCanceled, Reason: "canceled", Message: "canceled by user", Now: at(5)})
	require.NoError(t, err)
	stop, err = s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.Equal(t, []store.AttemptRef{ref(leased)}, stop)
}

func testCancelFinished(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "done", "w")
	_, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1,
		State: store.StateSucceeded, ExitCode: intp(0), Now: at(2)})
	require.NoError(t, err)
	got, err := s.RequestCancel(ctx, j.ID, at(3))
	require.ErrorIs(t, err, store.ErrJobFinished)
	require.Equal(t, j.ID, got.ID)
	require.Equal(t, store.StateSucceeded, got.State)
	require.False(t, got.CancelRequested)
}

func testClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	createJobs(t, s, "q", 5)
	none, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 0, Now: at(1)})
	require.NoError(t, err)
	require.Empty(t, none)

	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 3, Now: at(1)})
	require.NoError(t, err)
	require.Equal(t, []string{"q-0", "q-1", "q-2"}, ids(got), "oldest first")
	for _, j := range got {
		require.Equal(t, store.StateLeased, j.State)
		require.Equal(t, 1, j.Attempt)
		require.Equal(t, "w1", j.WorkerID)
		require.Equal(t, newJob(j.ID).Script, j.Script)
		require.Nil(t, j.StartedAt)

		stored, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, store.StateLeased, stored.State)
		require.Equal(t, 1, stored.Attempt)

		attempts, err := s.ListAttempts(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, []store.Attempt{{JobID: j.ID, Number: 1, WorkerID: "w1",
			State: store.StateLeased, LeasedAt: at(1)}}, attempts)
	}
	rest, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 10, Now: at(2)})
	require.NoError(t, err)
	require.Equal(t, []string{"q-3", "q-4"}, ids(rest))
	empty, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 10, Now: at(3)})
	require.NoError(t, err)
	require.Empty(t, empty)

	attempts, err := s.ListAttempts(ctx, "nope")
	require.NoError(t, err)
	require.Empty(t, attempts)
}

func testClaimOnlyQueued(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "a", "w")
	_, err := s.StartAttempt(ctx, ref(j), at(2))
	require.NoError(t, err)
	claimOne(t, s, "b", "w")
	createJobs(t, s, "c", 2)
	_, err = s.RequestCancel(ctx, "c-0", at(3))
	require.NoError(t, err)
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 10, Now: at(4)})
	require.NoError(t, err)
	require.Equal(t, []string{"c-1"}, ids(got))
}

func testClaimConcurrent(t *testing.T, s store.Store) {
	const jobs, claimers = 200, 8
	createJobs(t, s, "cc", jobs)
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
		errs = make(chan error, claimers)
	)
	for c := range claimers {
		worker := fmt.Sprintf("w%d", c)
		wg.Go(func() {
			for {
				got, err := s.ClaimJobs(t.Context(), store.ClaimParams{WorkerID: worker, Max: 7, Now: at(1)})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					if prev, dup := seen[j.ID]; dup {
						errs <- fmt.Errorf("job %s claimed by %s and %s", j.ID, prev, worker)
					}
					seen[j.ID] = worker
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, seen, jobs)
	for id, worker := range seen {
		attempts, err := s.ListAttempts(t.Context(), id)
		require.NoError(t, err)
		require.Len(t, attempts, 1, id)
		require.Equal(t, worker, attempts[0].WorkerID)
	}
}

func testStartAttempt(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "s", "w")
	got, err := s.StartAttempt(ctx, ref(j), at(2))
	require.NoError(t, err)
	require.Equal(t, store.StateRunning, got.State)
	require.Equal(t, timep(at(2)), got.StartedAt)

	again, err := s.StartAttempt(ctx, ref(j), at(9))
	require.NoError(t, err, "starting twice is idempotent")
	require.Equal(t, timep(at(2)), again.StartedAt)

	attempts, err := s.ListAttempts(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	require.Equal(t, store.StateRunning, attempts[0].State)
	require.Equal(t, timep(at(2)), attempts[0].StartedAt)

	_, err = s.StartAttempt(ctx, store.AttemptRef{JobID: j.ID, Attempt: 2}, at(3))
	require.ErrorIs(t, err, store.ErrStaleAttempt)
	_, err = s.StartAttempt(ctx, store.AttemptRef{JobID: "nope", Attempt: 1}, at(3))
	require.ErrorIs(t, err, store.ErrNotFound)
	createJobs(t, s, "queued", 1)
	_, err = s.StartAttempt(ctx, store.AttemptRef{JobID: "queued-0", Attempt: 0}, at(3))
	require.ErrorIs(t, err, store.ErrStaleAttempt, "a queued job has no active attempt")
}

func testFinishAttempt(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "f", "w7")
	_, err := s.StartAttempt(ctx, ref(j), at(2))
	require.NoError(t, err)
	p := store.FinishParams{JobID: j.ID, Attempt: 1, State: store.StateFailed,
		ExitCode: intp(3), Reason: "exit_code", Message: "exited with 3", Now: at(4)}
	got, err := s.FinishAttempt(ctx, p)
	require.NoError(t, err)
	require.Equal(t, store.StateFailed, got.State)
	require.Equal(t, intp(3), got.ExitCode)
	require.Equal(t, "exit_code", got.Reason)
	require.Equal(t, "exited with 3", got.Message)
	require.Equal(t, timep(at(4)), got.FinishedAt)
	require.Equal(t, timep(at(2)), got.StartedAt)
	require.Equal(t, "w7", got.WorkerID, "the worker stays recorded")
	stored, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, got, stored)

	attempts, err := s.ListAttempts(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, []store.Attempt{{JobID: j.ID, Number: 1, WorkerID: "w7",
		State: store.StateFailed, ExitCode: intp(3), Reason: "exit_code",
		Message: "exited with 3", LeasedAt: at(1), StartedAt: timep(at(2)),
		FinishedAt: timep(at(4))}}, attempts)

	_, err = s.FinishAttempt(ctx, p)
	require.ErrorIs(t, err, store.ErrStaleAttempt, "a repeated report")
	p2 := p
	p2.State, p2.ExitCode = store.StateSucceeded, intp(0)
	_, err = s.FinishAttempt(ctx, p2)
	require.ErrorIs(t, err, store.ErrStaleAttempt, "a second, different result")
	after, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, stored, after, "exactly one result is recorded")

	k := claimOne(t, s, "g", "w7")
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: k.ID, Attempt: 1, State: store.StateRunning, Now: at(5)})
	require.Error(t, err, "running is not a terminal state")
	require.NotErrorIs(t, err, store.ErrStaleAttempt)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "nope", Attempt: 1, State: store.StateFailed, Now: at(5)})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testFinishFromLeased(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "pull", "w")
	got, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1,
		State: store.StateError, Reason: "image_pull", Message: "pull failed", Now: at(3)})
	require.NoError(t, err)
	require.Equal(t, store.StateError, got.State)
	require.Nil(t, got.StartedAt)
	require.Nil(t, got.ExitCode)
}

// testFinishStarted: a result that says the run started records the
// start of an attempt still leased (its start report was folded into the
// result), keeps an earlier one, and is the same alone, in a batch, and
// on the retry path.
func testFinishStarted(t *testing.T, s store.Store) {
	ctx := t.Context()
	check := func(j store.Job, want *time.Time) {
		t.Helper()
		require.Equal(t, want, j.StartedAt)
		atts, err := s.ListAttempts(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, want, atts[0].StartedAt, "the attempt agrees")
	}
	one := claimAt(t, s, newJob("one"), "w", 1)
	got, err := s.FinishAttempt(ctx, store.FinishParams{JobID: one.ID, Attempt: 1,
		State: store.StateSucceeded, ExitCode: intp(0), Started: true, Now: at(3)})
	require.NoError(t, err)
	check(got, timep(at(3)))

	early := claimAt(t, s, newJob("early"), "w", 1)
	_, err = s.StartAttempt(ctx, store.AttemptRef{JobID: early.ID, Attempt: 1}, at(2))
	require.NoError(t, err)
	folded := claimAt(t, s, newJob("folded"), "w", 1)
	never := claimAt(t, s, newJob("never"), "w", 1)
	retried := newJob("retried")
	retried.Retries = 1
	retry := claimAt(t, s, retried, "w", 1)
	jobs, errs, err := s.FinishAttempts(ctx, []store.FinishParams{
		{JobID: early.ID, Attempt: 1, State: store.StateSucceeded, ExitCode: intp(0), Started: true, Now: at(4)},
		{JobID: folded.ID, Attempt: 1, State: store.StateSucceeded, ExitCode: intp(0), Started: true, Now: at(4)},
		{JobID: never.ID, Attempt: 1, State: store.StateError, Reason: "start_failed", Now: at(4)},
		{JobID: retry.ID, Attempt: 1, State: store.StateFailed, ExitCode: intp(1), Started: true, Now: at(4)},
	})
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}
	check(jobs[0], timep(at(2)))
	check(jobs[1], timep(at(4)))
	check(jobs[2], nil)
	require.Equal(t, store.StateQueued, jobs[3].State)
	require.Nil(t, jobs[3].StartedAt, "a job queued again has not started")
	atts, err := s.ListAttempts(ctx, retry.ID)
	require.NoError(t, err)
	require.Equal(t, timep(at(4)), atts[0].StartedAt, "the failed attempt did start")
}

// testFinishConcurrent races many reports for one attempt: exactly one wins.
func testFinishConcurrent(t *testing.T, s store.Store) {
	j := claimOne(t, s, "race", "w")
	const reporters = 8
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		won, stale int
	)
	for i := range reporters {
		wg.Go(func() {
			_, err := s.FinishAttempt(t.Context(), store.FinishParams{JobID: j.ID, Attempt: 1,
				State: store.StateFailed, ExitCode: intp(i), Now: at(2)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrStaleAttempt):
				stale++
			default:
				t.Errorf("finish: %v", err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, won)
	require.Equal(t, reporters-1, stale)
}

func testFencing(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := claimOne(t, s, "fence", "w")
	for _, n := range []int{0, 2, -1} {
		stale := store.AttemptRef{JobID: j.ID, Attempt: n}
		_, err := s.StartAttempt(ctx, stale, at(2))
		require.ErrorIs(t, err, store.ErrStaleAttempt, "start attempt %d", n)
		_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: n, State: store.StateFailed, Now: at(2)})
		require.ErrorIs(t, err, store.ErrStaleAttempt, "finish attempt %d", n)
		err = s.AppendLogs(ctx, stale, []store.LogChunk{{Stream: "stdout", Seq: 1, Time: at(2), Data: []byte("x")}})
		require.ErrorIs(t, err, store.ErrStaleAttempt, "logs of attempt %d", n)
	}
	got, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, store.StateLeased, got.State, "stale reports change nothing")

	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1, State: store.StateTimedOut, Now: at(3)})
	require.NoError(t, err)
	_, err = s.StartAttempt(ctx, ref(j), at(4))
	require.ErrorIs(t, err, store.ErrStaleAttempt, "start after finish")
}

func testAttemptsToStop(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := claimOne(t, s, "a", "w1")
	b := claimOne(t, s, "b", "w1")
	claimOne(t, s, "c", "w2")
	stop, err := s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.Empty(t, stop)

	_, err = s.RequestCancel(ctx, b.ID, at(2))
	require.NoError(t, err)
	_, err = s.RequestCancel(ctx, "c", at(2))
	require.NoError(t, err)
	stop, err = s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.Equal(t, []store.AttemptRef{ref(b)}, stop)

	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: a.ID, Attempt: 1, State: store.StateSucceeded, ExitCode: intp(0), Now: at(3)})
	require.NoError(t, err)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: b.ID, Attempt: 1, State: store.StateCanceled, Now: at(3)})
	require.NoError(t, err)
	stop, err = s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.Empty(t, stop, "finished attempts need no stopping")
	stop, err = s.AttemptsToStop(ctx, "nobody")
	require.NoError(t, err)
	require.Empty(t, stop)
}

// testBatchReports: StartAttempts and FinishAttempts answer each attempt
// as StartAttempt and FinishAttempt would, whatever mix a batch holds.
func testBatchReports(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := claimOne(t, s, "ba", "w")
	b := claimOne(t, s, "bb", "w")
	_, err := s.StartAttempt(ctx, ref(b), at(2)) // already running
	require.NoError(t, err)
	nj := newJob("bc")
	nj.Retries = 1
	c := claimAt(t, s, nj, "w", 1)
	refs := []store.AttemptRef{ref(a), ref(b), {JobID: a.ID, Attempt: 2}, {JobID: "nope", Attempt: 1}, ref(c)}
	jobs, errs, err := s.StartAttempts(ctx, refs, at(3))
	require.NoError(t, err)
	require.Len(t, jobs, len(refs))
	require.NoError(t, errs[0])
	require.Equal(t, store.StateRunning, jobs[0].State)
	require.Equal(t, timep(at(3)), jobs[0].StartedAt)
	require.NoError(t, errs[1])
	require.Equal(t, timep(at(2)), jobs[1].StartedAt, "a second start changes nothing")
	require.ErrorIs(t, errs[2], store.ErrStaleAttempt)
	require.ErrorIs(t, errs[3], store.ErrNotFound)
	require.NoError(t, errs[4])
	atts, err := s.ListAttempts(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, store.StateRunning, atts[0].State)
	require.Equal(t, timep(at(3)), atts[0].StartedAt)

	ps := []store.FinishParams{
		{JobID: a.ID, Attempt: 1, State: store.StateSucceeded, ExitCode: intp(0), Now: at(5)},
		{JobID: b.ID, Attempt: 1, State: store.StateCanceled, Reason: "canceled", Message: "canceled on request", Now: at(5)},
		{JobID: c.ID, Attempt: 1, State: store.StateFailed, ExitCode: intp(2), Reason: "exit_code", Failure: `{"exception":"E"}`, Now: at(5)},
		{JobID: a.ID, Attempt: 1, State: store.StateFailed, ExitCode: intp(1), Now: at(6)}, // a second result
		{JobID: "nope", Attempt: 1, State: store.StateSucceeded, Now: at(5)},
	}
	jobs, errs, err = s.FinishAttempts(ctx, ps)
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.Equal(t, store.StateSucceeded, jobs[0].State)
	require.Equal(t, intp(0), jobs[0].ExitCode)
	require.Equal(t, timep(at(5)), jobs[0].FinishedAt)
	require.NoError(t, errs[1])
	require.Equal(t, store.StateCanceled, jobs[1].State)
	require.Equal(t, "canceled on request", jobs[1].Message)
	require.Nil(t, jobs[1].ExitCode)
	require.NoError(t, errs[2])
	require.Equal(t, store.StateQueued, jobs[2].State, "a failure with a retry left queues the job again")
	require.ErrorIs(t, errs[3], store.ErrStaleAttempt, "exactly one result")
	require.ErrorIs(t, errs[4], store.ErrNotFound)
	for _, id := range []string{a.ID, b.ID} {
		atts, err := s.ListAttempts(ctx, id)
		require.NoError(t, err)
		got := mustGet(t, s, id)
		require.Equal(t, got.State, atts[0].State, "attempt and job agree")
		require.Equal(t, got.FinishedAt, atts[0].FinishedAt)
	}
	require.Equal(t, mustGet(t, s, a.ID), jobs[0])
}
