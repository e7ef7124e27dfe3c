package server_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

func TestPoolsEndpoint(t *testing.T) {
	t.Parallel()
	off := setup(t, server.Options{})
	got, err := off.c.Pools(t.Context())
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Empty(t, got.Pools)

	want := []client.PoolStatus{{Name: "cpu", Provider: "docker", Max: 3, Current: 1, Target: 2, LastDirection: "out", LastDecision: "2 queued jobs fit no free slot"}}
	var elsewhere atomic.Bool
	on := setup(t, server.Options{Pools: func() ([]client.PoolStatus, bool) { return want, !elsewhere.Load() }})
	got, err = on.c.Pools(t.Context())
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.False(t, got.Elsewhere)
	require.Equal(t, want, got.Pools)

	// On a replica that does not hold the autoscaler's lease.
	elsewhere.Store(true)
	got, err = on.c.Pools(t.Context())
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.True(t, got.Elsewhere)
}

// A worker marked draining (by the autoscaler before it stops the
// machine) is handed no job, though one is queued that fits it.
func TestDrainingWorkerLeasesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	_, err := b.c.Submit(t.Context(), client.SubmitRequest{FileName: "x.py", Script: []byte("print(1)")})
	require.NoError(t, err)
	_, err = b.c.Register(t.Context(), client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process"})
	require.NoError(t, err)
	_, err = b.c.Heartbeat(t.Context(), "w1", client.HeartbeatRequest{Draining: true})
	require.NoError(t, err)
	l, err := b.c.Lease(t.Context(), "w1", client.LeaseRequest{Max: 1, WaitSeconds: 1})
	require.NoError(t, err)
	require.Empty(t, l.Jobs)
	// Registering again (a fresh start) makes it active: it leases.
	_, err = b.c.Register(t.Context(), client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process"})
	require.NoError(t, err)
	l, err = b.c.Lease(t.Context(), "w1", client.LeaseRequest{Max: 1, WaitSeconds: 1})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
}

// A heartbeat's warm count is what GET /v1/workers shows, until a later
// heartbeat says another; one that says none leaves it.
func TestHeartbeatWarmCountShown(t *testing.T) {
	t.Parallel()
	b := setup(t, server.Options{})
	_, err := b.c.Register(t.Context(), client.RegisterRequest{ID: "w1", Slots: 2, Executor: "docker"})
	require.NoError(t, err)
	warm := func() int {
		ws, err := b.c.Workers(t.Context())
		require.NoError(t, err)
		require.Len(t, ws, 1)
		return ws[0].Warm
	}
	require.Equal(t, 0, warm())
	two := 2
	_, err = b.c.Heartbeat(t.Context(), "w1", client.HeartbeatRequest{Warm: &two})
	require.NoError(t, err)
	require.Equal(t, 2, warm())
	_, err = b.c.Heartbeat(t.Context(), "w1", client.HeartbeatRequest{})
	require.NoError(t, err)
	require.Equal(t, 2, warm())
}
