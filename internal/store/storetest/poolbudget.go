package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

// A whole pricedWorker (2 CPUs) for an hour: 0.02 EUR.
var wholeHour = store.Limits{CPUs: 2, TimeoutSeconds: 3600}

// testPoolBudgets: a worker of a pool with a budget leases only the jobs
// whose worst case (time limit × its rate) fits what is left, holding it;
// a job that does not fit is passed over (a worker of another pool takes
// it); an attempt that ended counts at what it cost, one that never
// started at nothing; a budget used up leases nothing, nor does a worker
// priced in another currency, nor a job with no time limit on a priced
// worker; the budget is listed, replaced and removed.
func testPoolBudgets(t *testing.T, s store.Store) {
	ctx := t.Context()
	create := func(id string, l store.Limits) {
		nj := newJob(id)
		nj.Limits = l
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	claim := func(pool string, max int, p store.Pricing, sec int) []string {
		got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w-" + pool, Max: max, Pricing: p, Slots: 4, Pool: pool, Now: at(sec)})
		require.NoError(t, err)
		ids := []string{}
		for _, j := range got {
			ids = append(ids, j.ID)
		}
		return ids
	}
	used := func() int64 {
		u, err := s.PoolBudgetUsed(ctx, "gpu", "EUR", store.MonthStart(at(0)))
		require.NoError(t, err)
		return u
	}
	budget := int64(50_000)
	require.NoError(t, s.SetPoolBudget(ctx, "gpu", &budget, "EUR", at(0)))
	bs, err := s.PoolBudgets(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.PoolBudget{{Pool: "gpu", Micros: 50_000, Currency: "EUR", UpdatedAt: at(0)}}, bs)

	create("pb-1", wholeHour)                                   // holds 20000
	create("pb-2", wholeHour)                                   // holds 20000
	create("pb-3", wholeHour)                                   // 10000 left: passed over
	create("pb-4", store.Limits{CPUs: 1, TimeoutSeconds: 1800}) // 10000/h for half an hour: 5000
	require.Equal(t, []string{"pb-1", "pb-2", "pb-4"}, claim("gpu", 10, pricedWorker, 1))
	require.Equal(t, int64(45_000), used())
	require.Empty(t, claim("gpu", 10, pricedWorker, 1), "pb-3's worst case does not fit the 5000 left")
	require.Equal(t, []string{"pb-3"}, claim("cpu", 10, pricedWorker, 1), "a pool without a budget takes it")

	// pb-1 runs 60 s: it costs 20000 × 60/3600 = 333; pb-2 never starts.
	_, err = s.StartAttempt(ctx, store.AttemptRef{JobID: "pb-1", Attempt: 1}, at(10))
	require.NoError(t, err)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "pb-1", Attempt: 1, State: store.StateSucceeded, Started: true, Now: at(70)})
	require.NoError(t, err)
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "pb-2", Attempt: 1, State: store.StateError, Now: at(71)})
	require.NoError(t, err)
	require.Equal(t, int64(333+5000), used(), "settled: pb-1 at its cost, pb-2 at nothing, pb-4 still held")

	create("pb-5", wholeHour)
	create("pb-6", store.Limits{CPUs: 2}) // no time limit: no worst case
	require.Equal(t, []string{"pb-5"}, claim("gpu", 10, pricedWorker, 80))
	require.Equal(t, []string{"pb-6"}, claim("gpu", 10, store.Pricing{}, 80), "an unpriced worker holds nothing")
	require.Equal(t, int64(333+5000+20000), used())

	// In another currency than the budget, a worker leases nothing.
	create("pb-7", store.Limits{CPUs: 1, TimeoutSeconds: 60})
	usd := pricedWorker
	usd.Currency = "USD"
	require.Empty(t, claim("gpu", 10, usd, 90))

	// Used up: not even a free job is leased.
	budget = 333 + 5000 + 20000
	require.NoError(t, s.SetPoolBudget(ctx, "gpu", &budget, "EUR", at(95)))
	require.Empty(t, claim("gpu", 10, store.Pricing{}, 96))
	// Removed: the pool's workers lease as any other.
	require.NoError(t, s.SetPoolBudget(ctx, "gpu", nil, "", at(97)))
	bs, err = s.PoolBudgets(ctx)
	require.NoError(t, err)
	require.Empty(t, bs)
	require.Equal(t, []string{"pb-7"}, claim("gpu", 10, pricedWorker, 98))

	// Behind 300 jobs that do not fit, one that does is leased.
	small := int64(5000)
	require.NoError(t, s.SetPoolBudget(ctx, "small", &small, "EUR", at(99)))
	for i := range 300 {
		create(fmt.Sprintf("pb-big-%03d", i), wholeHour)
	}
	create("pb-fits", store.Limits{CPUs: 1, TimeoutSeconds: 1800})
	require.Equal(t, []string{"pb-fits"}, claim("small", 1, pricedWorker, 100))
}

// testPoolBudgetsRace: many workers of one pool claim at once; the sum
// of their holds never exceeds the pool's budget, and the budget is used
// as far as it goes.
func testPoolBudgetsRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	budget := int64(100_000) // five jobs' worst case
	require.NoError(t, s.SetPoolBudget(ctx, "race", &budget, "EUR", at(0)))
	for i := range 30 {
		nj := newJob(fmt.Sprintf("pr-%02d", i))
		nj.Limits = wholeHour
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		held  int64
		errs  []error
	)
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: fmt.Sprintf("rw%d", w), Max: 2, Pricing: pricedWorker,
				Slots: 4, Pool: "race", Now: at(1)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			total += len(got)
			for _, j := range got {
				held += store.HoldMicros(j.RateMicros, j.Limits.TimeoutSeconds)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 5, total, "exactly as many jobs as the budget holds")
	require.Equal(t, budget, held)
	used, err := s.PoolBudgetUsed(ctx, "race", "EUR", store.MonthStart(at(0)))
	require.NoError(t, err)
	require.Equal(t, budget, used)
}
