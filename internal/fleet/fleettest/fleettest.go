// Package fleettest is the conformance suite of the autoscaler's
// providers: a provider is done when Run passes on it. It checks what the
// autoscaler relies on: a machine made is listed under its name and pool,
// found again by a new provider of the pool (a restarted server), never
// listed for another pool, and gone after Delete, a second Delete being
// no error.
package fleettest

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/fleet"
)

// Harness makes providers for the suite.
type Harness struct {
	// Pool is a validated pool of the provider under test; Other another
	// pool of the same provider, whose machines must stay apart.
	Pool, Other *fleet.Pool
	// New makes a provider of a pool; the suite calls it again to stand
	// for a restarted server.
	New func(t *testing.T, p *fleet.Pool) fleet.Provider
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	ctx := t.Context()
	prov := h.New(t, h.Pool)
	name := fleet.NewMachineName(h.Pool.Name)
	before := time.Now().Add(-time.Minute)
	m, err := prov.Create(ctx, fleet.MachineSpec{Pool: h.Pool, Name: name, Token: "rgw_fleettest_secret"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = prov.Delete(t.Context(), m) })
	require.Equal(t, name, m.Name)
	require.Equal(t, h.Pool.Name, m.Pool)
	require.NotEmpty(t, m.ID)

	listed := func(p fleet.Provider) []fleet.Machine {
		ms, err := p.Machines(ctx)
		require.NoError(t, err)
		return slices.DeleteFunc(ms, func(x fleet.Machine) bool { return x.Name != name })
	}
	got := listed(prov)
	require.Len(t, got, 1, "the machine made is listed once")
	require.Equal(t, m.ID, got[0].ID)
	require.Equal(t, h.Pool.Name, got[0].Pool)
	require.True(t, got[0].CreatedAt.After(before), "CreatedAt %s", got[0].CreatedAt)
	require.False(t, got[0].Failed)

	restarted := h.New(t, h.Pool)
	require.Len(t, listed(restarted), 1, "a new provider of the pool finds the machine by its labels")
	require.Empty(t, listed(h.New(t, h.Other)), "another pool lists the machine")

	require.NoError(t, restarted.Delete(ctx, got[0]))
	require.Empty(t, listed(prov), "the machine deleted is still listed")
	require.NoError(t, prov.Delete(ctx, m), "deleting a machine already gone")
}
