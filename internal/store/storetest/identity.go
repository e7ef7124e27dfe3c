package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// deadAfter is the liveness interval of the identity tests, in the suite's
// seconds: a worker heard from at second h is alive until h+deadAfter.
const deadAfter = 15

func instanceWorker(id, instance string, sec int) store.Worker {
	w := worker(id, sec)
	w.Instance = instance
	return w
}

// aliveAfter is the cutoff a server at second now passes to UpsertWorker.
func aliveAfter(now int) int { return now - deadAfter }

// requireInUse checks that err refuses the id for its holder, and says who
// that is.
func requireInUse(t *testing.T, err error, instance string, heard int) {
	t.Helper()
	require.ErrorIs(t, err, store.ErrWorkerInUse)
	var iu *store.WorkerInUseError
	require.True(t, errors.As(err, &iu), "a *store.WorkerInUseError carries the holder: %v", err)
	require.Equal(t, instance, iu.Holder.Instance)
	require.Equal(t, "host-"+iu.Holder.ID, iu.Holder.Hostname)
	require.Equal(t, at(heard), iu.Holder.LastHeartbeat)
}

func onlyWorker(t *testing.T, s store.Store) store.Worker {
	t.Helper()
	list, err := s.ListWorkers(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1)
	return list[0]
}

// An id belongs to the instance that registered it while that one is
// alive; once it is dead (silent past the cutoff, or marked dead) another
// instance takes it over.
func testWorkerInstanceRegister(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.UpsertWorker(ctx, instanceWorker("w", "i1", 1), at(aliveAfter(1)))
	require.NoError(t, err)
	require.Equal(t, "i1", got.Instance)
	_, err = s.UpsertWorker(ctx, instanceWorker("w", "i1", 2), at(aliveAfter(2)))
	require.NoError(t, err, "the holder registers again")

	other := instanceWorker("w", "i2", 3)
	other.Name = "intruder"
	_, err = s.UpsertWorker(ctx, other, at(aliveAfter(3)))
	requireInUse(t, err, "i1", 2)
	_, err = s.UpsertWorker(ctx, instanceWorker("w", "", 3), at(aliveAfter(3)))
	requireInUse(t, err, "i1", 2) // a worker from before instances proves nothing either
	w := onlyWorker(t, s)
	require.Equal(t, "i1", w.Instance, "a refused registration changes nothing")
	require.Equal(t, "name-w", w.Name)
	require.Equal(t, at(2), w.LastHeartbeat)

	// Heard from exactly at the cutoff is still alive; silent past it, dead.
	_, err = s.UpsertWorker(ctx, other, at(2))
	requireInUse(t, err, "i1", 2)
	other.LastHeartbeat = at(2 + deadAfter + 1)
	got, err = s.UpsertWorker(ctx, other, at(aliveAfter(2+deadAfter+1)))
	require.NoError(t, err)
	require.Equal(t, "i2", got.Instance)
	require.Equal(t, "intruder", got.Name)
	require.Equal(t, at(1), got.RegisteredAt)

	// Marked dead (by the reaper) counts as dead whatever the clock says.
	require.NoError(t, s.SetWorkerState(ctx, "w", "dead"))
	got, err = s.UpsertWorker(ctx, instanceWorker("w", "i3", 19), at(aliveAfter(19)))
	require.NoError(t, err)
	require.Equal(t, "i3", got.Instance)
	require.Equal(t, "active", got.State)
}

// A heartbeat from an instance other than the registered one is refused,
// alive or not: that process lost the id and must not go on leasing.
func testWorkerInstanceHeartbeat(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.UpsertWorker(ctx, instanceWorker("w", "i1", 1), at(aliveAfter(1)))
	require.NoError(t, err)
	require.NoError(t, s.Heartbeat(ctx, "w", "i1", at(2)))
	require.NoError(t, s.Heartbeat(ctx, "w", "", at(3)), "a worker from before instances is not checked")

	requireInUse(t, s.Heartbeat(ctx, "w", "i2", at(4)), "i1", 3)
	w := onlyWorker(t, s)
	require.Equal(t, at(3), w.LastHeartbeat, "a refused heartbeat is not a sign of life")
	require.Equal(t, "i1", w.Instance)

	require.NoError(t, s.SetWorkerState(ctx, "w", "dead"))
	requireInUse(t, s.Heartbeat(ctx, "w", "i2", at(30)), "i1", 3)
	require.NoError(t, s.Heartbeat(ctx, "w", "i1", at(31)))
	require.Equal(t, "active", onlyWorker(t, s).State, "the holder heard from again is alive again")

	require.ErrorIs(t, s.Heartbeat(ctx, "nope", "i1", at(5)), store.ErrNotFound)
}

// A row without an instance (a worker from before instances, or a row from
// before the column) is anybody's: the next instance to register or
// heartbeat takes it, and keeps it from then on.
func testWorkerInstanceLegacy(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.UpsertWorker(ctx, instanceWorker("reg", "", 1), at(aliveAfter(1)))
	require.NoError(t, err)
	_, err = s.UpsertWorker(ctx, instanceWorker("reg", "", 2), at(aliveAfter(2)))
	require.NoError(t, err, "workers from before instances register as they always did")
	got, err := s.UpsertWorker(ctx, instanceWorker("reg", "i1", 3), at(aliveAfter(3)))
	require.NoError(t, err)
	require.Equal(t, "i1", got.Instance)
	_, err = s.UpsertWorker(ctx, instanceWorker("reg", "", 4), at(aliveAfter(4)))
	requireInUse(t, err, "i1", 3)

	_, err = s.UpsertWorker(ctx, instanceWorker("hb", "", 1), at(aliveAfter(1)))
	require.NoError(t, err)
	require.NoError(t, s.Heartbeat(ctx, "hb", "i9", at(2)))
	requireInUse(t, s.Heartbeat(ctx, "hb", "i8", at(3)), "i9", 2)
	list, err := s.ListWorkers(ctx)
	require.NoError(t, err)
	instances := map[string]string{}
	for _, w := range list {
		instances[w.ID] = w.Instance
	}
	require.Equal(t, map[string]string{"reg": "i1", "hb": "i9"}, instances)
}
