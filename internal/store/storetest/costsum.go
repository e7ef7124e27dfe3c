package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// testCostSums: the sums the database makes agree, key by key, with
// what Charges and BatchCharges give summed attempt by attempt with
// Charge.Cost: for random prices (up to the largest a worker may have)
// and run times, retried attempts, attempts that never started, running
// ones (at now) and two currencies; by owner, batch, worker and none,
// for everyone and for one owner.
func testCostSums(t *testing.T, s store.Store) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(13, 17))
	nb := newBatch("cs-b", 6)
	nb.Item.Limits = store.Limits{CPUs: 1}
	nb.Item.Retries = 1
	nb.Owner = "cs-u0"
	createBatch(t, s, nb)
	for i := range 12 {
		nj := newJob(fmt.Sprintf("cs-%d", i))
		nj.Owner, nj.Limits, nj.Retries = fmt.Sprintf("cs-u%d", i%3), store.Limits{CPUs: float64(1 + rng.IntN(2))}, 1
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	start := at(100)
	for i := 0; ; i++ {
		cur := "EUR"
		if i%5 == 4 {
			cur = "USD"
		}
		p := store.Pricing{PriceMicros: 1 + rng.Int64N(1_000_000*1_000_000), Currency: cur, CPUs: 2}
		if i%4 == 0 {
			p.PriceMicros = int64(1 + rng.IntN(50_000))
		}
		worker := fmt.Sprintf("cs-w%d", i%2)
		js, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: worker, Max: 1, Pricing: p, Slots: 2, Now: start})
		require.NoError(t, err)
		if len(js) == 0 {
			break
		}
		require.Less(t, i, 100, "every job claimed")
		j := js[0]
		ref := store.AttemptRef{JobID: j.ID, Attempt: j.Attempt}
		run := time.Duration(rng.Int64N(int64(5 * time.Hour))).Truncate(time.Microsecond)
		switch i % 6 {
		case 0: // never started
			_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: j.Attempt, State: store.StateError, Now: start.Add(time.Second)})
		case 1: // still running
			_, err = s.StartAttempt(ctx, ref, start)
		case 2: // fails, retried (recorded apart)
			if _, err = s.StartAttempt(ctx, ref, start); err == nil {
				_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: j.Attempt, State: store.StateFailed, Started: true, Now: start.Add(run)})
			}
		default:
			if _, err = s.StartAttempt(ctx, ref, start); err == nil {
				_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: j.Attempt, State: store.StateSucceeded, Started: true, Now: start.Add(run)})
			}
		}
		require.NoError(t, err)
	}
	now := at(100 + 6*3600)
	since, until := at(0), at(100+6*3600)
	cs, err := s.Charges(ctx, since, until, true)
	require.NoError(t, err)
	require.NotEmpty(t, cs)
	for _, by := range store.CostSumKeys {
		for _, owner := range []string{"", "cs-u1"} {
			want := map[[2]string]store.CostSum{}
			jobs := map[[2]string]map[string]bool{}
			for _, c := range cs {
				if owner != "" && c.Owner != owner {
					continue
				}
				key := map[string]string{"": "", "user": c.Owner, "batch": c.BatchID, "worker": c.WorkerID}[by]
				k := [2]string{key, c.Currency}
				w := want[k]
				w.Key, w.Currency = key, c.Currency
				w.Attempts++
				w.Micros += c.Cost(now)
				if c.StartedAt != nil {
					end := now
					if c.FinishedAt != nil {
						end = *c.FinishedAt
					}
					w.RunMillis += max(end.Sub(*c.StartedAt).Milliseconds(), 0)
				}
				if jobs[k] == nil {
					jobs[k] = map[string]bool{}
				}
				jobs[k][c.JobID] = true
				w.Jobs = int64(len(jobs[k]))
				want[k] = w
			}
			got, err := s.CostSums(ctx, store.CostSumParams{Since: since, Until: until, Running: true, Now: now,
				Owner: owner, OwnerSet: owner != "", By: by})
			require.NoError(t, err)
			require.Len(t, got, len(want), "by %q, owner %q", by, owner)
			for i, g := range got {
				require.Equal(t, want[[2]string{g.Key, g.Currency}], g, "by %q, owner %q", by, owner)
				if i > 0 {
					require.GreaterOrEqual(t, got[i-1].Micros, g.Micros, "costliest first")
				}
			}
		}
	}
	// Without the running ones, and over a period that ends before any.
	got, err := s.CostSums(ctx, store.CostSumParams{Since: since, Until: until, Now: now})
	require.NoError(t, err)
	var all, ended int64
	for _, c := range cs {
		all += c.Cost(now)
		if c.FinishedAt != nil {
			ended += c.Cost(now)
		}
	}
	var sum int64
	for _, g := range got {
		sum += g.Micros
	}
	require.Equal(t, ended, sum)
	require.Less(t, ended, all, "the running attempts cost something so far")
	got, err = s.CostSums(ctx, store.CostSumParams{Since: at(0), Until: at(50), Now: now})
	require.NoError(t, err)
	require.Empty(t, got)

	bcs, err := s.BatchCharges(ctx, "cs-b")
	require.NoError(t, err)
	want := map[string]store.BatchCostSum{}
	for _, c := range bcs {
		w := want[c.Currency]
		w.Currency = c.Currency
		w.Micros += c.Cost(now)
		if c.JobState.Terminal() {
			w.DoneMicros += c.Cost(now)
		}
		want[c.Currency] = w
	}
	bsum, err := s.BatchCostSums(ctx, "cs-b", now)
	require.NoError(t, err)
	require.Len(t, bsum, len(want))
	for _, b := range bsum {
		require.Equal(t, want[b.Currency], b)
	}
	bsum, err = s.BatchCostSums(ctx, "cs-none", now)
	require.NoError(t, err)
	require.Empty(t, bsum)
}
