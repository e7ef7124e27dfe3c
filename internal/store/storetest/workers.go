package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

func worker(id string, sec int) store.Worker {
	return store.Worker{ID: id, Name: "name-" + id, Hostname: "host-" + id,
		Version: "v1", Executor: "docker", Slots: 4, LastHeartbeat: at(sec),
		Max: store.Limits{MemoryBytes: 8 << 30, CPUs: 3.5, Pids: 4096, TimeoutSeconds: 3600}}
}

func testUpsertWorker(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.UpsertWorker(ctx, worker("w1", 1), at(0))
	require.NoError(t, err)
	want := worker("w1", 1)
	want.State, want.RegisteredAt = "active", at(1)
	require.Equal(t, want, got)

	require.NoError(t, s.SetWorkerState(ctx, "w1", "draining"))
	again := worker("w1", 9)
	again.Name, again.Version, again.Executor, again.Slots = "renamed", "v2", "process", 1
	again.RegisteredAt = at(7)        // ignored: the first registration stands
	again.Max = store.Limits{CPUs: 2} // the other maxima are lifted
	got, err = s.UpsertWorker(ctx, again, at(0))
	require.NoError(t, err)
	want = again
	want.State, want.RegisteredAt = "active", at(1)
	require.Equal(t, want, got)

	list, err := s.ListWorkers(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.Worker{want}, list)
}

func testWorkerHeartbeatAndState(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.UpsertWorker(ctx, worker("w", 1), at(0))
	require.NoError(t, err)
	require.NoError(t, s.Heartbeat(ctx, "w", "", at(5)))
	require.NoError(t, s.SetWorkerState(ctx, "w", "dead"))
	list, err := s.ListWorkers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, at(5), list[0].LastHeartbeat)
	require.Equal(t, at(1), list[0].RegisteredAt)
	require.Equal(t, "dead", list[0].State)

	require.ErrorIs(t, s.Heartbeat(ctx, "nope", "", at(5)), store.ErrNotFound)
	require.ErrorIs(t, s.SetWorkerState(ctx, "nope", "dead"), store.ErrNotFound)
	require.Error(t, s.SetWorkerState(ctx, "w", "sleepy"))

	// The warm count of its heartbeats, kept through a registration.
	require.Equal(t, 0, list[0].Warm)
	require.NoError(t, s.SetWorkerWarm(ctx, "w", 3))
	_, err = s.UpsertWorker(ctx, worker("w", 6), at(0))
	require.NoError(t, err)
	list, err = s.ListWorkers(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, list[0].Warm)
	require.ErrorIs(t, s.SetWorkerWarm(ctx, "nope", 1), store.ErrNotFound)
}

func testDeleteWorker(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"idle", "busy"} {
		_, err := s.UpsertWorker(ctx, worker(id, 1), at(0))
		require.NoError(t, err)
	}
	j := claimOne(t, s, "j", "busy")
	require.ErrorIs(t, s.DeleteWorker(ctx, "busy"), store.ErrWorkerBusy, "its attempt would never be taken back")
	require.NoError(t, s.DeleteWorker(ctx, "idle"))
	require.ErrorIs(t, s.DeleteWorker(ctx, "idle"), store.ErrNotFound)
	list, err := s.ListWorkers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "busy", list[0].ID)

	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: 1, State: store.StateSucceeded,
		ExitCode: intp(0), Started: true, Now: at(3)})
	require.NoError(t, err)
	require.NoError(t, s.DeleteWorker(ctx, "busy"))
	got := mustGet(t, s, j.ID)
	require.Equal(t, "busy", got.WorkerID, "the job keeps its worker's id")
}

func testListWorkers(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListWorkers(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	for _, w := range []store.Worker{worker("old", 1), worker("new", 3), worker("mid", 2)} {
		_, err := s.UpsertWorker(ctx, w, at(0))
		require.NoError(t, err)
	}
	// mid holds three attempts: one leased, one running, one finished.
	claimOne(t, s, "j1", "mid")
	running := claimOne(t, s, "j2", "mid")
	done := claimOne(t, s, "j3", "mid")
	_, err = s.StartAttempt(ctx, ref(running), at(4))
	require.NoError(t, err)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: done.ID, Attempt: 1, State: store.StateSucceeded, ExitCode: intp(0), Now: at(4)})
	require.NoError(t, err)
	claimOne(t, s, "j4", "new")

	list, err = s.ListWorkers(ctx)
	require.NoError(t, err)
	var names []string
	inUse := map[string]int{}
	for _, w := range list {
		names = append(names, w.ID)
		inUse[w.ID] = w.SlotsInUse
	}
	require.Equal(t, []string{"new", "mid", "old"}, names, "most recently heard from first")
	require.Equal(t, map[string]int{"new": 1, "mid": 2, "old": 0}, inUse)
}

func testMarkDeadWorkers(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, w := range []store.Worker{worker("a", 1), worker("b", 5), worker("c", 1), worker("d", 2), worker("e", 1)} {
		_, err := s.UpsertWorker(ctx, w, at(0))
		require.NoError(t, err)
	}
	require.NoError(t, s.SetWorkerState(ctx, "c", "dead"))
	require.NoError(t, s.SetWorkerState(ctx, "d", "draining"))
	require.NoError(t, s.Heartbeat(ctx, "e", "", at(3)))

	dead, err := s.MarkDeadWorkers(ctx, at(3))
	require.NoError(t, err)
	wantA, wantD := worker("a", 1), worker("d", 2)
	wantA.State, wantA.RegisteredAt = "dead", at(1)
	wantD.State, wantD.RegisteredAt = "dead", at(2)
	require.Equal(t, []store.Worker{wantA, wantD}, dead,
		"longest silent first; already dead, recent and exactly-at-cutoff workers stay")
	again, err := s.MarkDeadWorkers(ctx, at(3))
	require.NoError(t, err)
	require.Empty(t, again)

	// Heard from again: a heartbeat or a new registration revives a dead
	// worker; a draining one keeps draining.
	require.NoError(t, s.SetWorkerState(ctx, "b", "draining"))
	require.NoError(t, s.Heartbeat(ctx, "a", "", at(10)))
	require.NoError(t, s.Heartbeat(ctx, "b", "", at(10)))
	_, err = s.UpsertWorker(ctx, worker("c", 10), at(0))
	require.NoError(t, err)
	list, err := s.ListWorkers(ctx)
	require.NoError(t, err)
	states := map[string]string{}
	for _, w := range list {
		states[w.ID] = w.State
	}
	require.Equal(t, map[string]string{"a": "active", "b": "draining", "c": "active", "d": "dead", "e": "active"}, states)
}

func testQueueStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	stats := func() store.QueueStats {
		t.Helper()
		q, err := s.QueueStats(ctx)
		require.NoError(t, err)
		return q
	}
	require.Equal(t, store.QueueStats{}, stats(), "an empty queue")
	for i, id := range []string{"q-0", "q-1", "q-2"} {
		nj := newJob(id)
		nj.CreatedAt = at(i + 1)
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	require.Equal(t, store.QueueStats{Queued: 3, OldestCreatedAt: timep(at(1))}, stats())

	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w", Max: 1, Now: at(5)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "q-0", got[0].ID)
	require.Equal(t, store.QueueStats{Queued: 2, OldestCreatedAt: timep(at(2))}, stats(), "a leased job is not queued")

	_, err = s.RequestCancel(ctx, "q-2", at(6))
	require.NoError(t, err)
	require.Equal(t, store.QueueStats{Queued: 1, OldestCreatedAt: timep(at(2))}, stats(), "a canceled job is not queued")

	lost, err := s.LoseAttempts(ctx, store.LoseParams{WorkerID: "w", Reason: "worker_lost", Message: "gone", Now: at(7)})
	require.NoError(t, err)
	require.Len(t, lost, 1)
	require.Equal(t, store.StateQueued, lost[0].State)
	require.Equal(t, store.QueueStats{Queued: 2, OldestCreatedAt: timep(at(1))}, stats(),
		"a job queued again keeps its place and its submission time")
}
