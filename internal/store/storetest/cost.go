package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/store"
)

const gib = 1 << 30

// pricedWorker is a 2-CPU, 4 GiB, 4-slot worker at 0.02 EUR per hour.
var pricedWorker = store.Pricing{PriceMicros: 20000, Currency: "EUR", CPUs: 2, MemoryBytes: 4 * gib}

// testClaimRate: a claim writes each job's rate as store.Rate has it for
// the claiming worker's pricing and the job's limits as claimed (the
// worker's defaults filled): by CPUs, by memory when larger, one slot
// for a job that sets neither; nothing on an unpriced worker. Random
// limits and pricings agree with store.Rate too.
func testClaimRate(t *testing.T, s store.Store) {
	ctx := t.Context()
	jobs := map[string]store.Limits{
		"rate-cpu":  {CPUs: 1},
		"rate-mem":  {MemoryBytes: 3 * gib},
		"rate-none": {},
		"rate-big":  {CPUs: 8},
	}
	want := map[string]int64{"rate-cpu": 10000, "rate-mem": 15000, "rate-none": 5000, "rate-big": 20000}
	for id, l := range jobs {
		nj := newJob(id)
		nj.Limits = l
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w1", Max: 10, Pricing: pricedWorker, Slots: 4, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, got, len(jobs))
	for _, j := range got {
		require.Equal(t, want[j.ID], j.RateMicros, "rate of %s", j.ID)
		require.Equal(t, "EUR", j.Currency, j.ID)
		stored, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, want[j.ID], stored.RateMicros, "stored rate of %s", j.ID)
	}

	_, err = s.CreateJob(ctx, newJob("rate-free"))
	require.NoError(t, err)
	got, err = s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w2", Max: 1, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Zero(t, got[0].RateMicros, "an unpriced worker charges nothing")

	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 40 {
		id := fmt.Sprintf("rate-rand-%d", i)
		nj := newJob(id)
		nj.Limits = store.Limits{CPUs: float64(rng.IntN(9)) / 2, MemoryBytes: int64(rng.IntN(5)) * 700 << 20}
		defaults := store.Limits{CPUs: float64(rng.IntN(3)) / 4, MemoryBytes: int64(rng.IntN(3)) * 300 << 20}
		p := store.Pricing{PriceMicros: int64(rng.IntN(4)) * 33333, Currency: "USD",
			CPUs: float64(rng.IntN(5)), MemoryBytes: int64(rng.IntN(4)) * gib}
		slots := rng.IntN(5)
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
		got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w3", Max: 1, Defaults: defaults, Pricing: p, Slots: slots, Now: at(2)})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, store.Rate(p, slots, got[0].Limits), got[0].RateMicros, "job %s: limits %+v, pricing %+v", id, got[0].Limits, p)
	}
}

// testCharges: Charges returns each priced attempt once, with its owner,
// batch and worker, by when it ended: attempts recorded apart (a script
// failure retried) and the attempt a job's row records, running ones
// only when asked, never queued jobs; an attempt that never started is
// there and costs nothing.
func testCharges(t *testing.T, s store.Store) {
	ctx := t.Context()
	create := func(id string) {
		nj := newJob(id)
		nj.Owner = "u-" + id
		nj.Limits = store.Limits{CPUs: 1}
		nj.Retries = 1
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
	}
	claim := func(sec int) store.Job {
		got, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "wp", Max: 1, Pricing: pricedWorker, Slots: 4, Now: at(sec)})
		require.NoError(t, err)
		require.Len(t, got, 1)
		return got[0]
	}
	start := func(j store.Job, sec int) {
		_, err := s.StartAttempt(ctx, store.AttemptRef{JobID: j.ID, Attempt: j.Attempt}, at(sec))
		require.NoError(t, err)
	}
	finish := func(j store.Job, st store.State, started bool, sec int) {
		_, err := s.FinishAttempt(ctx, store.FinishParams{JobID: j.ID, Attempt: j.Attempt, State: st, Started: started, Now: at(sec)})
		require.NoError(t, err)
	}

	create("ch-ok") // runs 60 s: 60/3600 × 0.02 EUR × 1/2
	j := claim(10)
	start(j, 10)
	finish(j, store.StateSucceeded, true, 70)

	create("ch-retry") // fails after 36 s, retried, succeeds after 72 s
	j = claim(100)
	start(j, 100)
	finish(j, store.StateFailed, true, 136)
	j = claim(140)
	start(j, 140)
	finish(j, store.StateSucceeded, true, 212)

	create("ch-never") // its image could not be pulled: never started
	j = claim(300)
	finish(j, store.StateError, false, 301)

	create("ch-running")
	j = claim(400)
	start(j, 400)

	create("ch-queued")

	cs, err := s.Charges(ctx, at(0), at(1000), false)
	require.NoError(t, err)
	type row struct {
		job     string
		attempt int
		owner   string
		cost    int64
	}
	var rows []row
	for _, c := range cs {
		require.Equal(t, "wp", c.WorkerID)
		require.Equal(t, int64(10000), c.RateMicros)
		require.Equal(t, "EUR", c.Currency)
		rows = append(rows, row{c.JobID, c.Attempt, c.Owner, c.Cost(at(1000))})
	}
	require.Equal(t, []row{
		{"ch-ok", 1, "u-ch-ok", 167},
		{"ch-retry", 1, "u-ch-retry", 100},
		{"ch-retry", 2, "u-ch-retry", 200},
		{"ch-never", 1, "u-ch-never", 0},
	}, rows)

	cs, err = s.Charges(ctx, at(100), at(213), true)
	require.NoError(t, err)
	rows = rows[:0]
	for _, c := range cs {
		rows = append(rows, row{c.JobID, c.Attempt, c.Owner, c.Cost(at(436))})
	}
	require.Equal(t, []row{
		{"ch-retry", 1, "u-ch-retry", 100},
		{"ch-retry", 2, "u-ch-retry", 200},
		{"ch-running", 1, "u-ch-running", 100}, // 36 s so far
	}, rows)
	require.Nil(t, cs[2].FinishedAt)

	atts, err := s.ListAttempts(ctx, "ch-retry")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	for _, a := range atts {
		require.Equal(t, int64(10000), a.RateMicros)
		require.Equal(t, "EUR", a.Currency)
	}
	require.Equal(t, int64(300), atts[0].Cost(time.Time{})+atts[1].Cost(time.Time{}))
}

// testBudgetHolds: holds count against a user's budget while their jobs
// have not finished (and for a minute before the job exists), then the
// job counts at what it cost; a hold past the budget is refused with the
// figures; the spent sum agrees with what Charges cost, attempt by
// attempt.
func testBudgetHolds(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.CreateUser(ctx, store.User{ID: "usr_bud", Name: "bud", Role: store.RoleUser, CreatedAt: at(0)})
	require.NoError(t, err)
	budget := int64(1000)
	u, err := s.SetUserBudget(ctx, "usr_bud", &budget, "EUR")
	require.NoError(t, err)
	require.Equal(t, budget, *u.BudgetMicros)
	require.Equal(t, "EUR", u.BudgetCurrency)
	got, err := s.GetUser(ctx, "usr_bud")
	require.NoError(t, err)
	require.Equal(t, u, got)

	hold := func(sec int, job string, micros int64) (int64, error) {
		return s.HoldBudget(ctx, store.HoldParams{UserID: "usr_bud", Budget: budget, Currency: "EUR",
			PeriodStart: at(0), Holds: []store.Hold{{JobID: job, Micros: micros}}, Now: at(sec)})
	}
	used, err := hold(1, "bud-1", 600)
	require.NoError(t, err)
	require.Equal(t, int64(600), used)
	_, err = hold(1, "bud-2", 500)
	var be *store.BudgetExceededError
	require.ErrorAs(t, err, &be)
	require.Equal(t, store.BudgetExceededError{Used: 600, Asked: 500, Budget: 1000, Currency: "EUR"}, *be)
	require.ErrorIs(t, err, store.ErrBudgetExceeded)

	nj := newJob("bud-1")
	nj.Owner, nj.Limits = "usr_bud", store.Limits{CPUs: 1}
	_, err = s.CreateJob(ctx, nj)
	require.NoError(t, err)
	js, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "wb", Max: 1, Pricing: pricedWorker, Slots: 4, Now: at(2)})
	require.NoError(t, err)
	require.Len(t, js, 1)
	_, err = s.StartAttempt(ctx, store.AttemptRef{JobID: "bud-1", Attempt: 1}, at(2))
	require.NoError(t, err)
	used, err = s.BudgetUsed(ctx, "usr_bud", "EUR", at(0), at(3))
	require.NoError(t, err)
	require.Equal(t, int64(600), used, "running: its hold counts")
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "bud-1", Attempt: 1, State: store.StateSucceeded, Started: true, Now: at(38)})
	require.NoError(t, err)
	used, err = s.BudgetUsed(ctx, "usr_bud", "EUR", at(0), at(39))
	require.NoError(t, err)
	require.Equal(t, int64(100), used, "finished: 36 s at 10000 per hour, the hold gone")
	used, err = s.BudgetUsed(ctx, "usr_bud", "EUR", at(39), at(39))
	require.NoError(t, err)
	require.Zero(t, used, "a new period starts from nothing")
	used, err = s.BudgetUsed(ctx, "usr_bud", "USD", at(0), at(39))
	require.NoError(t, err)
	require.Zero(t, used, "charges in another currency are not this budget's")

	used, err = hold(40, "bud-3", 900)
	require.NoError(t, err)
	require.Equal(t, int64(1000), used)
	_, err = hold(40, "bud-4", 1)
	require.ErrorIs(t, err, store.ErrBudgetExceeded)
	_, err = hold(40, "bud-free", 0)
	require.ErrorIs(t, err, store.ErrBudgetExceeded, "a budget used up takes nothing more")
	used, err = hold(101, "bud-4", 1)
	require.NoError(t, err, "bud-3 was never made: its hold lapsed after a minute")
	require.Equal(t, int64(101), used)
	require.NoError(t, s.ReleaseHolds(ctx, []string{"bud-4"}))
	used, err = s.BudgetUsed(ctx, "usr_bud", "EUR", at(0), at(101))
	require.NoError(t, err)
	require.Equal(t, int64(100), used)

	_, err = s.HoldBudget(ctx, store.HoldParams{UserID: "usr_nobody", Budget: 1, Currency: "EUR", Holds: []store.Hold{{JobID: "x", Micros: 1}}})
	require.ErrorIs(t, err, store.ErrNotFound)
}

// testBudgetHoldsRace: two holds at the same moment that each fit but
// not together: exactly one is taken, every round.
func testBudgetHoldsRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 10 {
		id := fmt.Sprintf("usr_race%d", round)
		_, err := s.CreateUser(ctx, store.User{ID: id, Name: id, Role: store.RoleUser, CreatedAt: at(0)})
		require.NoError(t, err)
		errs := make(chan error, 2)
		for i := range 2 {
			go func() {
				_, err := s.HoldBudget(ctx, store.HoldParams{UserID: id, Budget: 1000, Currency: "EUR", PeriodStart: at(0),
					Holds: []store.Hold{{JobID: fmt.Sprintf("%s-%d", id, i), Micros: 600}}, Now: at(1)})
				errs <- err
			}()
		}
		var ok, refused int
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrBudgetExceeded):
				refused++
			default:
				require.NoError(t, err)
			}
		}
		require.Equal(t, [2]int{1, 1}, [2]int{ok, refused}, "round %d", round)
	}
}

// testBudgetSpentAgrees: the budget's spent sum, computed by the
// database, is the sum of what Charges cost in Go, over attempts of
// random lengths (sub-millisecond, half-micro-unit edges, hours).
func testBudgetSpentAgrees(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.CreateUser(ctx, store.User{ID: "usr_sum", Name: "sum", Role: store.RoleUser, CreatedAt: at(0)})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 5))
	start := at(10)
	for i := range 30 {
		id := fmt.Sprintf("sum-%d", i)
		nj := newJob(id)
		nj.Owner, nj.Limits = "usr_sum", store.Limits{CPUs: float64(1 + rng.IntN(4))}
		_, err := s.CreateJob(ctx, nj)
		require.NoError(t, err)
		p := store.Pricing{PriceMicros: int64(1 + rng.IntN(5_000_000)), Currency: "EUR", CPUs: 4}
		js, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "ws", Max: 1, Pricing: p, Slots: 1, Now: start})
		require.NoError(t, err)
		require.Len(t, js, 1)
		_, err = s.StartAttempt(ctx, store.AttemptRef{JobID: id, Attempt: 1}, start)
		require.NoError(t, err)
		run := time.Duration(rng.Int64N(int64(3 * time.Hour)))
		if i%3 == 0 {
			run = time.Duration(rng.Int64N(int64(5 * time.Millisecond)))
		}
		run = run.Truncate(time.Microsecond)
		_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: id, Attempt: 1, State: store.StateSucceeded, Started: true, Now: start.Add(run)})
		require.NoError(t, err)
	}
	cs, err := s.Charges(ctx, at(0), at(100_000), false)
	require.NoError(t, err)
	var want int64
	for _, c := range cs {
		if c.Owner == "usr_sum" {
			want += c.Cost(time.Time{})
		}
	}
	used, err := s.BudgetUsed(ctx, "usr_sum", "EUR", at(0), at(100_000))
	require.NoError(t, err)
	require.Equal(t, want, used)
}

// testBatchCharges: a batch's charges are its items' priced attempts,
// ended and running, and no other job's.
func testBatchCharges(t *testing.T, s store.Store) {
	ctx := t.Context()
	nb := newBatch("bch", 3)
	nb.Item.Limits = store.Limits{CPUs: 1}
	nb.Item.Retries = 1
	createBatch(t, s, nb)
	other := newJob("bch-other")
	other.Limits = store.Limits{CPUs: 1}
	_, err := s.CreateJob(ctx, other)
	require.NoError(t, err)
	js, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "wc", Max: 10, Pricing: pricedWorker, Slots: 4, Now: at(1)})
	require.NoError(t, err)
	require.Len(t, js, 4)
	for _, j := range js {
		_, err := s.StartAttempt(ctx, store.AttemptRef{JobID: j.ID, Attempt: 1}, at(1))
		require.NoError(t, err)
	}
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "bch-0", Attempt: 1, State: store.StateFailed, Started: true, Now: at(37)})
	require.NoError(t, err) // retried: recorded apart
	_, err = s.FinishAttempt(ctx, store.FinishParams{JobID: "bch-1", Attempt: 1, State: store.StateSucceeded, Started: true, Now: at(73)})
	require.NoError(t, err)
	cs, err := s.BatchCharges(ctx, "bch")
	require.NoError(t, err)
	got := map[string]int64{}
	for _, c := range cs {
		require.Equal(t, "bch", c.BatchID)
		got[fmt.Sprintf("%s/%d", c.JobID, c.Attempt)] = c.Cost(at(109))
	}
	require.Equal(t, map[string]int64{"bch-0/1": 100, "bch-1/1": 200, "bch-2/1": 300}, got)
}
