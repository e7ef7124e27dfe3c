package storetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// withLimits is newJob(id) asking for l.
func withLimits(id string, l store.Limits) store.NewJob {
	nj := newJob(id)
	nj.Limits = l
	return nj
}

func testClaimFits(t *testing.T, s store.Store) {
	ctx := t.Context()
	const gib = 1 << 30
	for _, nj := range []store.NewJob{
		withLimits("small", store.Limits{MemoryBytes: gib, CPUs: 1, Pids: 100, TimeoutSeconds: 60}),
		withLimits("bigmem", store.Limits{MemoryBytes: 16 * gib}),
		withLimits("zero", store.Limits{}),
		withLimits("bigcpu", store.Limits{CPUs: 8}),
		withLimits("exact", store.Limits{MemoryBytes: 4 * gib, CPUs: 4, Pids: 1000, TimeoutSeconds: 3600}),
		withLimits("manypids", store.Limits{Pids: 10000}),
		withLimits("long", store.Limits{TimeoutSeconds: 86400}),
		withLimits("small2", store.Limits{MemoryBytes: 2 * gib, CPUs: 0.5}),
	} {
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	fits := store.Limits{MemoryBytes: 4 * gib, CPUs: 4, Pids: 1000, TimeoutSeconds: 3600}
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 3, Fits: fits, Now: at(1)})
	require.NoError(t, err)
	require.Equal(t, []string{"small", "zero", "exact"}, ids(got),
		"oldest first among the jobs that fit; a job's zero limit and an equal one fit")
	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 10, Fits: fits, Now: at(1)})
	require.NoError(t, err)
	require.Equal(t, []string{"small2"}, ids(got))

	// Only memory is bounded: the others have no maximum.
	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 2, Fits: store.Limits{MemoryBytes: 4 * gib}, Now: at(2)})
	require.NoError(t, err)
	require.Equal(t, []string{"bigcpu", "manypids"}, ids(got))
	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 10, Fits: store.Limits{CPUs: 1}, Now: at(2)})
	require.NoError(t, err)
	require.Equal(t, []string{"bigmem", "long"}, ids(got))
	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 10, Now: at(2)})
	require.NoError(t, err)
	require.Empty(t, got)
}

// requeued checks that j is back in the queue after its attempt n ended.
func requeued(t *testing.T, s store.Store, j store.Job, n int) {
	t.Helper()
	require.Equal(t, store.StateQueued, j.State)
	require.Equal(t, n, j.Attempt)
	require.Empty(t, j.WorkerID)
	require.False(t, j.CancelRequested)
	require.Nil(t, j.ExitCode)
	require.Empty(t, j.Reason)
	require.Empty(t, j.Message)
	require.Nil(t, j.StartedAt)
	require.Nil(t, j.FinishedAt)
	stored, err := s.GetJob(t.Context(), j.ID)
	require.NoError(t, err)
	require.Equal(t, j, stored)
}

func testRetries(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("r")
	nj.Retries = 2
	created, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.Equal(t, 2, created.Retries)
	stored, err := s.GetJob(ctx, nj.ID)
	require.NoError(t, err)
	require.Equal(t, 2, stored.Retries)

	failures := []store.State{store.StateFailed, store.StateOOMKilled, store.StateTimedOut}
	var want []store.Attempt
	for i, st := range failures {
		n, sec := i+1, 10*(i+1)
		worker := fmt.Sprintf("w%d", n)
		got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: worker, Max: 5, Now: at(sec)})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, n, got[0].Attempt)
		require.Equal(t, 2, got[0].Retries)
		_, err = s.StartAttempt(ctx, ref(got[0]), at(sec+1))
		require.NoError(t, err)
		msg := fmt.Sprintf("failure %d", n)
		j, err := s.FinishAttempt(ctx, store.FinishParams{JobID: nj.ID, Attempt: n, State: st,
			ExitCode: intp(n), Reason: string(st), Message: msg, Now: at(sec + 2)})
		require.NoError(t, err)
		want = append(want, store.Attempt{JobID: nj.ID, Number: n, WorkerID: worker, State: st,
			ExitCode: intp(n), Reason: string(st), Message: msg, LeasedAt: at(sec),
			StartedAt: timep(at(sec + 1)), FinishedAt: timep(at(sec + 2))})
		if n <= nj.Retries {
			requeued(t, s, j, n)
			continue
		}
		require.Equal(t, st, j.State, "no retries left")
		require.Equal(t, intp(n), j.ExitCode)
		require.Equal(t, msg, j.Message)
		require.Equal(t, worker, j.WorkerID)
		require.Equal(t, timep(at(sec+1)), j.StartedAt)
		require.Equal(t, timep(at(sec+2)), j.FinishedAt)
	}
	attempts, err := s.ListAttempts(ctx, nj.ID)
	require.NoError(t, err)
	require.Equal(t, want, attempts)
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w9", Max: 5, Now: at(50)})
	require.NoError(t, err)
	require.Empty(t, got)
	requireStale(t, s, store.AttemptRef{JobID: nj.ID, Attempt: 1})
	requireStale(t, s, store.AttemptRef{JobID: nj.ID, Attempt: 3})
}

func testRetriesOnlyScriptFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Results that are not the script's failure end the job at once.
	for _, st := range []store.State{store.StateSucceeded, store.StateError, store.StateCanceled} {
		nj := newJob("end-" + string(st))
		nj.Retries = 3
		j := claimAt(t, s, nj, "w", 1)
		got, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1, State: st, Now: at(2)})
		require.NoError(t, err)
		require.Equal(t, st, got.State)
	}
	// A worker that reports its attempt lost (it was stopped first) loses
	// it as a dead worker would: queued again while attempts remain
	// (MaxAttempts, not Retries), ended lost after.
	nj := newJob("end-lost")
	nj.Retries, nj.MaxAttempts = 3, 2
	j := claimAt(t, s, nj, "w", 1)
	for attempt, want := range []store.State{store.StateQueued, store.StateLost} {
		if attempt > 0 {
			claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(3)})
			require.NoError(t, err)
			require.Len(t, claimed, 1)
		}
		got, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: attempt + 1, State: store.StateLost,
			Reason: "worker_stopped", Message: "worker w was stopped", Now: at(4)})
		require.NoError(t, err)
		require.Equal(t, want, got.State)
		require.Equal(t, attempt+1, got.LostAttempts)
		require.Zero(t, got.ScriptFailures)
	}
	attempts, err := s.ListAttempts(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	for _, a := range attempts {
		require.Equal(t, store.StateLost, a.State)
		require.Equal(t, "worker_stopped", a.Reason)
	}

	// A job the user asked to cancel is not run again.
	nj = newJob("cancel")
	nj.Retries = 3
	j = claimAt(t, s, nj, "w", 1)
	_, err = s.RequestCancel(ctx, j.ID, at(2))
	require.NoError(t, err)
	got, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1,
		State: store.StateFailed, ExitCode: intp(1), Now: at(3)})
	require.NoError(t, err)
	require.Equal(t, store.StateFailed, got.State)
	require.True(t, got.CancelRequested)

	// Lost attempts do not use up retries, and failures do not use up
	// MaxAttempts.
	nj = newJob("mixed")
	nj.Retries, nj.MaxAttempts = 1, 2
	j = claimAt(t, s, nj, "w1", 1)
	got, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1, State: store.StateFailed, ExitCode: intp(1), Now: at(2)})
	require.NoError(t, err)
	requeued(t, s, got, 1)
	claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 1, Now: at(3)})
	require.NoError(t, err)
	require.Equal(t, []string{"mixed"}, ids(claimed))
	lost, err := s.LoseAttempts(ctx, store.LoseParams{WorkerID: "w2", Reason: "worker_lost", Message: "gone", Now: at(4)})
	require.NoError(t, err)
	require.Len(t, lost, 1)
	requeued(t, s, lost[0], 2)
	claimed, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w3", Max: 1, Now: at(5)})
	require.NoError(t, err)
	require.Equal(t, 3, claimed[0].Attempt)
	got, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 3, State: store.StateFailed, ExitCode: intp(1), Now: at(6)})
	require.NoError(t, err)
	require.Equal(t, store.StateFailed, got.State, "the second failure, with one retry")
	attempts, err = s.ListAttempts(ctx, j.ID)
	require.NoError(t, err)
	var states []store.State
	for _, a := range attempts {
		states = append(states, a.State)
	}
	require.Equal(t, []store.State{store.StateFailed, store.StateLost, store.StateFailed}, states)
}

func testClaimDefaults(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.CreateJob(ctx, withLimits("asked", store.Limits{MemoryBytes: 1 << 30, TimeoutSeconds: 5, DiskBytes: 1 << 20}))
	require.NoError(t, err)
	_, err = s.CreateJob(ctx, withLimits("unset", store.Limits{}))
	require.NoError(t, err)
	defaults := store.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, TimeoutSeconds: 300, DiskBytes: 2 << 30}
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 2, Defaults: defaults, Now: at(1)})
	require.NoError(t, err)
	require.Equal(t, []string{"asked", "unset"}, ids(got))
	require.Equal(t, store.Limits{MemoryBytes: 1 << 30, CPUs: 1, Pids: 256, TimeoutSeconds: 5, DiskBytes: 1 << 20}, got[0].Limits,
		"the job's own limits stay; only unset ones take the worker's defaults")
	require.Equal(t, defaults, got[1].Limits)
	stored, err := s.GetJob(ctx, "unset")
	require.NoError(t, err)
	require.Equal(t, defaults, stored.Limits, "the defaults are recorded on the job")
}

func testRequirementsRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	nj := newJob("reqs")
	nj.Requirements = []string{"numpy==1.26.4", "rgrid-hello[extra]>=1.0; python_version >= \"3.8\""}
	created, err := s.CreateJob(ctx, nj)
	require.NoError(t, err)
	require.Equal(t, nj.Requirements, created.Requirements)
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, nj.Requirements, got[0].Requirements)
	_, err = s.CreateJob(ctx, newJob("none"))
	require.NoError(t, err)
	none, err := s.GetJob(ctx, "none")
	require.NoError(t, err)
	require.Nil(t, none.Requirements)
}

// A worker's disk maximum bounds what it is handed, like its others.
func testClaimFitsDisk(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, nj := range []store.NewJob{
		withLimits("bigdisk", store.Limits{DiskBytes: 100 << 30}),
		withLimits("smalldisk", store.Limits{DiskBytes: 1 << 30}),
		withLimits("nodisk", store.Limits{}),
	} {
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 5, Fits: store.Limits{DiskBytes: 10 << 30}, Now: at(1)})
	require.NoError(t, err)
	require.Equal(t, []string{"smalldisk", "nodisk"}, ids(got))
	w, err := s.UpsertWorker(ctx, store.Worker{ID: "w", Slots: 1, RegisteredAt: at(1), LastHeartbeat: at(1),
		Max: store.Limits{DiskBytes: 10 << 30}}, at(0))
	require.NoError(t, err)
	require.Equal(t, int64(10<<30), w.Max.DiskBytes)
}
