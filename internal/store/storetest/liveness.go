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

// requireStale checks that every report for r is refused and changes
// nothing.
func requireStale(t *testing.T, s store.Store, r store.AttemptRef) {
	t.Helper()
	ctx := t.Context()
	before, err := s.GetJob(ctx, r.JobID)
	require.NoError(t, err)
	_, err = s.StartAttempt(ctx, r, at(90))
	require.ErrorIs(t, err, store.ErrStaleAttempt, "start %+v", r)
	err = s.AppendLogs(ctx, r, []store.LogChunk{chunk("stdout", 99, "late")})
	require.ErrorIs(t, err, store.ErrStaleAttempt, "logs of %+v", r)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: r.JobID, Attempt: r.Attempt,
		State: store.StateSucceeded, ExitCode: intp(0), Now: at(90)})
	require.ErrorIs(t, err, store.ErrStaleAttempt, "finish %+v", r)
	after, err := s.GetJob(ctx, r.JobID)
	require.NoError(t, err)
	require.Equal(t, before, after)
	logs, err := s.ReadLogs(ctx, store.ReadLogsParams{JobID: r.JobID})
	require.NoError(t, err)
	for _, c := range logs {
		require.NotEqual(t, "late", string(c.Data))
	}
}

func loseParams(worker string, sec int) store.LoseParams {
	return store.LoseParams{WorkerID: worker, Reason: "worker_lost",
		Message: "worker " + worker + " was last heard from 15 s ago", Now: at(sec)}
}

func testLoseAttempts(t *testing.T, s store.Store) {
	ctx := t.Context()
	run := claimOne(t, s, "run", "w")
	_, err := s.StartAttempt(ctx, ref(run), at(2))
	require.NoError(t, err)
	claimOne(t, s, "lease", "w")
	claimOne(t, s, "other", "w2")

	p := loseParams("w", 20)
	got, err := s.LoseAttempts(ctx, p)
	require.NoError(t, err)
	require.Equal(t, []string{"run", "lease"}, ids(got), "oldest first")
	for _, j := range got {
		requeued(t, s, j, 1)
	}
	for id, started := range map[string]*time.Time{"run": timep(at(2)), "lease": nil} {
		attempts, err := s.ListAttempts(ctx, id)
		require.NoError(t, err)
		require.Equal(t, []store.Attempt{{JobID: id, Number: 1, WorkerID: "w", State: store.StateLost,
			Reason: "worker_lost", Message: p.Message, LeasedAt: at(1), StartedAt: started,
			FinishedAt: timep(at(20))}}, attempts)
	}
	other, err := s.GetJob(ctx, "other")
	require.NoError(t, err)
	require.Equal(t, store.StateLeased, other.State, "another worker's job is untouched")
	requireStale(t, s, ref(run))

	again, err := s.LoseAttempts(ctx, p)
	require.NoError(t, err)
	require.Empty(t, again, "nothing left to lose")

	// Another worker takes the jobs, as attempt 2; attempt 1 stays stale.
	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w3", Max: 10, Now: at(21)})
	require.NoError(t, err)
	require.Equal(t, []string{"run", "lease"}, ids(claimed))
	for _, j := range claimed {
		require.Equal(t, 2, j.Attempt)
	}
	requireStale(t, s, ref(run))
	workers := map[string]int{}
	for _, id := range []string{"run", "lease", "other"} {
		attempts, err := s.ListAttempts(ctx, id)
		require.NoError(t, err)
		for _, a := range attempts {
			if !a.State.Terminal() {
				workers[a.WorkerID]++
			}
		}
	}
	require.Equal(t, map[string]int{"w2": 1, "w3": 2}, workers)
}

func testLoseAttemptsSelect(t *testing.T, s store.Store) {
	ctx := t.Context()
	keep := claimAt(t, s, newJob("keep"), "w", 1)
	claimAt(t, s, newJob("old"), "w", 1)
	started := claimAt(t, s, newJob("started"), "w", 1)
	claimAt(t, s, newJob("young"), "w", 10)
	for _, j := range []store.Job{keep, started} {
		_, err := s.StartAttempt(ctx, ref(j), at(2))
		require.NoError(t, err)
	}
	lose := func(edit func(p *store.LoseParams)) []string {
		t.Helper()
		p := loseParams("w", 20)
		p.Keep = []store.AttemptRef{ref(keep)}
		edit(&p)
		got, err := s.LoseAttempts(ctx, p)
		require.NoError(t, err)
		return ids(got)
	}
	require.Equal(t, []string{"old"}, lose(func(p *store.LoseParams) {
		p.LeasedBefore, p.OnlyLeased = at(5), true
	}), "leased before 5, never started")
	require.Equal(t, []string{"started"}, lose(func(p *store.LoseParams) { p.LeasedBefore = at(5) }))
	require.Empty(t, lose(func(p *store.LoseParams) { p.LeasedBefore = at(10) }), "leased at 10 is not before 10")
	require.Equal(t, []string{"young"}, lose(func(*store.LoseParams) {}))
	require.Empty(t, lose(func(*store.LoseParams) {}), "the kept attempt stays")
	require.Equal(t, []string{"keep"}, lose(func(p *store.LoseParams) {
		p.Keep = []store.AttemptRef{{JobID: keep.ID, Attempt: 2}}
	}), "keeping another attempt of the job does not keep this one")
}

func testLoseAttemptsEndsLost(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("fragile")
	nj.MaxAttempts = 2
	j := claimAt(t, s, nj, "w1", 1)
	_, err := s.StartAttempt(ctx, ref(j), at(2))
	require.NoError(t, err)
	got, err := s.LoseAttempts(ctx, loseParams("w1", 20))
	require.NoError(t, err)
	require.Len(t, got, 1)
	requeued(t, s, got[0], 1)

	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 1, Now: at(21)})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	p := loseParams("w2", 40)
	got, err = s.LoseAttempts(ctx, p)
	require.NoError(t, err)
	require.Len(t, got, 1)
	lost := got[0]
	require.Equal(t, store.StateLost, lost.State, "both attempts lost")
	require.Equal(t, "worker_lost", lost.Reason)
	require.Equal(t, p.Message, lost.Message)
	require.Equal(t, timep(at(40)), lost.FinishedAt)
	require.Nil(t, lost.ExitCode)
	require.Equal(t, 2, lost.Attempt)
	require.Equal(t, "w2", lost.WorkerID, "the worker stays recorded")
	stored, err := s.GetJob(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, lost, stored)
	attempts, err := s.ListAttempts(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	for _, a := range attempts {
		require.Equal(t, store.StateLost, a.State)
	}
	none, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w3", Max: 1, Now: at(41)})
	require.NoError(t, err)
	require.Empty(t, none)
	requireStale(t, s, ref(lost))

	// One infrastructure attempt, and no reason given: the store names one.
	nj = newJob("once")
	nj.MaxAttempts = 1
	claimAt(t, s, nj, "w4", 50)
	got, err = s.LoseAttempts(ctx, store.LoseParams{WorkerID: "w4", Message: "gone", Now: at(51)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, store.StateLost, got[0].State)
	require.Equal(t, "worker_lost", got[0].Reason)
}

func testLoseAttemptsCanceled(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := claimOne(t, s, "a", "w")
	_, err := s.StartAttempt(ctx, ref(a), at(2))
	require.NoError(t, err)
	nj := newJob("last")
	nj.MaxAttempts = 1
	claimAt(t, s, nj, "w", 3)
	for _, id := range []string{"a", "last"} {
		_, err := s.RequestCancel(ctx, id, at(4))
		require.NoError(t, err)
	}
	p := loseParams("w", 20)
	got, err := s.LoseAttempts(ctx, p)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "last"}, ids(got))
	for _, j := range got {
		require.Equal(t, store.StateCanceled, j.State, "a cancel wins over requeueing and over lost")
		require.Equal(t, "canceled", j.Reason)
		require.Equal(t, "canceled while its worker was lost", j.Message)
		require.Equal(t, timep(at(20)), j.FinishedAt)
		attempts, err := s.ListAttempts(ctx, j.ID)
		require.NoError(t, err)
		require.Len(t, attempts, 1)
		require.Equal(t, store.StateLost, attempts[0].State)
		require.Equal(t, p.Message, attempts[0].Message)
	}
	stop, err := s.AttemptsToStop(ctx, "w")
	require.NoError(t, err)
	require.Empty(t, stop)
}

// testLoseVersusFinish races, for each of many attempts, the worker's result
// against the reaper declaring the worker lost: exactly one of them wins.
func testLoseVersusFinish(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 50
	for i := range n {
		j := claimOne(t, s, fmt.Sprintf("race-%d", i), fmt.Sprintf("w%d", i))
		_, err := s.StartAttempt(ctx, ref(j), at(2))
		require.NoError(t, err)
	}
	finished := make([]bool, n)
	lost := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		id, worker := fmt.Sprintf("race-%d", i), fmt.Sprintf("w%d", i)
		wg.Go(func() {
			_, err := s.FinishAttempt(ctx, store.FinishParams{JobID: id, Attempt: 1,
				State: store.StateSucceeded, ExitCode: intp(0), Now: at(5)})
			switch {
			case err == nil:
				finished[i] = true
			case !errors.Is(err, store.ErrStaleAttempt):
				t.Errorf("finish %s: %v", id, err)
			}
		})
		wg.Go(func() {
			jobs, err := s.LoseAttempts(ctx, loseParams(worker, 5))
			if err != nil {
				t.Errorf("lose %s: %v", worker, err)
				return
			}
			lost[i] = len(jobs) == 1 && jobs[0].ID == id
		})
	}
	wg.Wait()
	won := 0
	for _, f := range finished {
		if f {
			won++
		}
	}
	t.Logf("%d of %d attempts finished by their worker, the rest lost", won, n)
	for i := range n {
		id := fmt.Sprintf("race-%d", i)
		require.True(t, finished[i] != lost[i], "%s: finished %v, lost %v", id, finished[i], lost[i])
		attempts, err := s.ListAttempts(ctx, id)
		require.NoError(t, err)
		require.Len(t, attempts, 1)
		j, err := s.GetJob(ctx, id)
		require.NoError(t, err)
		if finished[i] {
			require.Equal(t, store.StateSucceeded, attempts[0].State)
			require.Equal(t, store.StateSucceeded, j.State)
		} else {
			require.Equal(t, store.StateLost, attempts[0].State)
			require.Equal(t, store.StateQueued, j.State)
		}
	}
}

// testNoActiveAttemptLeftBehind: a job moves to a later attempt only through
// FinishAttempt (a retry) or LoseAttempts, and both end the earlier attempt
// in the same step. So AttemptsToStop never finds an active attempt whose job
// moved on; the old worker learns from ErrStaleAttempt instead.
func testNoActiveAttemptLeftBehind(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("retry")
	nj.Retries = 1
	retry := claimAt(t, s, nj, "w1", 1)
	_, err := s.FinishAttempt(ctx, store.FinishParams{JobID: retry.ID, Attempt: 1,
		State: store.StateFailed, ExitCode: intp(1), Now: at(2)})
	require.NoError(t, err)
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 1, Now: at(3)})
	require.NoError(t, err)
	require.Equal(t, 2, got[0].Attempt)

	lost := claimAt(t, s, newJob("lost"), "w1", 4)
	_, err = s.LoseAttempts(ctx, loseParams("w1", 5))
	require.NoError(t, err)
	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 1, Now: at(6)})
	require.NoError(t, err)
	require.Equal(t, 2, got[0].Attempt)

	stop, err := s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.Empty(t, stop)
	for _, j := range []store.Job{retry, lost} {
		requireStale(t, s, ref(j))
		_, err := s.RequestCancel(ctx, j.ID, at(7))
		require.NoError(t, err)
	}
	stop, err = s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.Empty(t, stop)
	stop, err = s.AttemptsToStop(ctx, "w2")
	require.NoError(t, err)
	require.Equal(t, []store.AttemptRef{{JobID: "retry", Attempt: 2}, {JobID: "lost", Attempt: 2}}, stop)
}
