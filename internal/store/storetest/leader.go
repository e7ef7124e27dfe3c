package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

func testLeaderLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	const ttl = 10 * time.Second

	// The first to try leads; another is refused while the lease lives.
	l, err := s.TryLead(ctx, "reaper", "a", at(0), ttl)
	require.NoError(t, err)
	require.Equal(t, store.Lease{Name: "reaper", Holder: "a", ExpiresAt: at(10)}, l)
	l, err = s.TryLead(ctx, "reaper", "b", at(5), ttl)
	require.NoError(t, err)
	require.Equal(t, "a", l.Holder, "b took a live lease")
	require.Equal(t, at(10), l.ExpiresAt)

	// Leases are per loop.
	l, err = s.TryLead(ctx, "retention", "b", at(5), ttl)
	require.NoError(t, err)
	require.Equal(t, "b", l.Holder)

	// The holder renews.
	l, err = s.TryLead(ctx, "reaper", "a", at(8), ttl)
	require.NoError(t, err)
	require.Equal(t, store.Lease{Name: "reaper", Holder: "a", ExpiresAt: at(18)}, l)

	// Not yet expired at its expiry's eve; taken over at expiry.
	l, err = s.TryLead(ctx, "reaper", "b", at(17), ttl)
	require.NoError(t, err)
	require.Equal(t, "a", l.Holder)
	l, err = s.TryLead(ctx, "reaper", "b", at(18), ttl)
	require.NoError(t, err)
	require.Equal(t, store.Lease{Name: "reaper", Holder: "b", ExpiresAt: at(28)}, l)

	// The old holder, back, does not take it; resigning someone else's
	// lease does nothing; the holder's resignation frees it at once.
	l, err = s.TryLead(ctx, "reaper", "a", at(19), ttl)
	require.NoError(t, err)
	require.Equal(t, "b", l.Holder)
	require.NoError(t, s.Resign(ctx, "reaper", "a"))
	l, err = s.TryLead(ctx, "reaper", "a", at(20), ttl)
	require.NoError(t, err)
	require.Equal(t, "b", l.Holder)
	require.NoError(t, s.Resign(ctx, "reaper", "b"))
	l, err = s.TryLead(ctx, "reaper", "a", at(21), ttl)
	require.NoError(t, err)
	require.Equal(t, "a", l.Holder)
	require.NoError(t, s.Resign(ctx, "nothing", "a"))
}

// testLeaderLeaseConcurrent: of many replicas trying at once, one leads.
func testLeaderLeaseConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	leads := make([]store.Lease, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			leads[i], errs[i] = s.TryLead(ctx, "reaper", string(rune('a'+i)), at(0), 10*time.Second)
		})
	}
	wg.Wait()
	won := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, leads[0].Holder, leads[i].Holder, "replicas disagree on the leader")
		if leads[i].Holder == string(rune('a'+i)) {
			won++
		}
	}
	require.Equal(t, 1, won)
}
