package server_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

const gib = 1 << 30

// TestCost: a worker priced 0.02 EUR per hour with 2 CPUs and 4 GiB runs
// alice's 1-CPU job for 60 s (charged by CPU: 60/3600 × 0.02 × 1/2) and
// bob's 3 GiB job for 60 s (by memory: × 3/4); an attempt that never
// started costs nothing. The job shows its cost; the report sums by user
// exactly, shows a user only their own jobs, and shows an admin the idle
// capacity (120 s paid less what the jobs were charged).
func TestCost(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	_, err := g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 2, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR", CPUs: 2, MemoryBytes: 4 * gib}})
	require.NoError(t, err)

	a, err := g.alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "a.py", Limits: client.Limits{CPUs: 1}})
	require.NoError(t, err)
	b, err := g.bob.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "b.py", Limits: client.Limits{CPUs: 0.5, MemoryBytes: 3 * gib}})
	require.NoError(t, err)
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 2, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 2)
	exit := 0
	for _, lj := range l.Jobs {
		ref := client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt}
		_, err := g.worker.StartAttempt(ctx, ref)
		require.NoError(t, err)
	}
	g.advance(60 * time.Second)
	for _, lj := range l.Jobs {
		ref := client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt}
		_, err := g.worker.ReportResult(ctx, ref, client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true})
		require.NoError(t, err)
	}
	// A job whose image could not be pulled: it never started.
	n, err := g.alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "n.py", Limits: client.Limits{CPUs: 1}})
	require.NoError(t, err)
	l, err = g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	_, err = g.worker.ReportResult(ctx, client.AttemptRef{JobID: n.ID, Attempt: l.Jobs[0].Attempt},
		client.ResultReport{State: client.StateError, Reason: "image_pull_failed", Message: "no such image"})
	require.NoError(t, err)
	g.advance(60 * time.Second)
	_, err = g.worker.Heartbeat(ctx, "w1", client.HeartbeatRequest{})
	require.NoError(t, err)

	got, err := g.alice.Job(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, &client.Money{Micros: 167, Currency: "EUR"}, got.Cost, "60/3600 × 20000 × 1/2 = 166.7")
	require.Equal(t, int64(10000), got.Attempts[0].RateMicrosPerHour)
	got, err = g.bob.Job(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, &client.Money{Micros: 250, Currency: "EUR"}, got.Cost, "charged by memory: 60/3600 × 20000 × 3/4")
	got, err = g.alice.Job(ctx, n.ID)
	require.NoError(t, err)
	require.Equal(t, &client.Money{Micros: 0, Currency: "EUR"}, got.Cost, "never started: nothing")

	rep, err := g.admin.Cost(ctx, client.CostOptions{Since: "1h", By: "user"})
	require.NoError(t, err)
	require.Equal(t, []client.CostRow{
		{Key: "bob", Jobs: 1, Attempts: 1, RunSeconds: 60, Cost: client.Money{Micros: 250, Currency: "EUR"}},
		{Key: "alice", Jobs: 2, Attempts: 2, RunSeconds: 60, Cost: client.Money{Micros: 167, Currency: "EUR"}},
	}, rep.Rows)
	require.Equal(t, []client.Money{{Micros: 417, Currency: "EUR"}}, rep.Total)
	require.Equal(t, []client.CostRow{{Key: "default", RunSeconds: 120, Cost: client.Money{Micros: 667 - 417, Currency: "EUR"}}}, rep.Idle,
		"120 s paid (667) less 417 charged")

	// The month's spend per pool, as /metrics shows it.
	require.NoError(t, g.srv.RefreshMetrics(ctx))
	require.NoError(t, testutil.GatherAndCompare(g.srv.Metrics(), strings.NewReader(`
# HELP rgrid_spend_month_microunits What this calendar month's (UTC) attempts cost so far, by the pool of their worker's token, in micro-units of the currency (read every 5 minutes).
# TYPE rgrid_spend_month_microunits gauge
rgrid_spend_month_microunits{currency="EUR",pool="default"} 417
`), "rgrid_spend_month_microunits"))

	mine, err := g.alice.Cost(ctx, client.CostOptions{Since: "1h", By: "batch"})
	require.NoError(t, err)
	require.Equal(t, []client.CostRow{{Key: "(no batch)", Jobs: 2, Attempts: 2, RunSeconds: 60, Cost: client.Money{Micros: 167, Currency: "EUR"}}}, mine.Rows)
	require.Empty(t, mine.Idle, "idle capacity is the platform's: admins only")

	for _, bad := range []client.CostOptions{{By: "colour"}, {Since: "yesterday"}, {Since: "-5d"}, {Since: "1h", Until: "2h"}, {Since: "1000d"}} {
		_, err := g.admin.Cost(ctx, bad)
		require.True(t, client.IsCode(err, client.CodeInvalidRequest), "%+v: %v", bad, err)
	}
}

// TestWorkerPricingChecked: a price that is not one is refused at
// registration, naming the flag that sets it.
func TestWorkerPricingChecked(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	for _, p := range []client.Pricing{
		{PriceMicrosPerHour: -1, Currency: "EUR"},
		{PriceMicrosPerHour: 20000, Currency: "euro"},
		{PriceMicrosPerHour: 20000, Currency: ""},
		{PriceMicrosPerHour: 20000, Currency: "EUR", CPUs: -2},
		{PriceMicrosPerHour: 20000, Currency: "EUR", BillingSeconds: -1},
	} {
		_, err := g.worker.Register(t.Context(), client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process", Pricing: &p})
		require.True(t, client.IsCode(err, client.CodeInvalidRequest), "%+v: %v", p, err)
		var apiErr *client.Error
		require.ErrorAs(t, err, &apiErr)
		require.Contains(t, apiErr.Hint, "--price-per-hour")
	}
}

// TestBudget: a user's monthly budget holds each submission's worst case
// (time limit × the dearest worker's rate, per run): the submission that
// would pass it is refused with 402 budget_exceeded naming the budget and
// its reset date, also when two arrive at once; finished jobs count at
// what they cost, freeing the rest; the next month starts again.
func TestBudget(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	// Mid-month, so that a day's steps stay in it.
	g.mu.Lock()
	g.now = time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	g.mu.Unlock()
	_, err := g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 10, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR", CPUs: 2, MemoryBytes: 4 * gib}})
	require.NoError(t, err)
	for _, bad := range []client.UserBudgetRequest{{Micros: ptr64(-1), Currency: "EUR"}, {Micros: ptr64(5), Currency: "eur"}} {
		_, err := g.admin.SetUserBudget(ctx, "alice", bad)
		require.True(t, client.IsCode(err, client.CodeInvalidRequest), "%+v: %v", bad, err)
	}
	_, err = g.alice.SetUserBudget(ctx, "alice", client.UserBudgetRequest{Micros: ptr64(1 << 40), Currency: "EUR"})
	forbidden(t, err, "a user setting their own budget")
	u, err := g.admin.SetUserBudget(ctx, "alice", client.UserBudgetRequest{Micros: ptr64(1000), Currency: "EUR"})
	require.NoError(t, err)
	require.Equal(t, &client.Money{Micros: 1000, Currency: "EUR"}, u.Budget)

	oneCPU := func(c *client.Client, timeout int64) (client.Job, error) {
		return c.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "a.py",
			Limits: client.Limits{CPUs: 1, TimeoutSeconds: timeout}})
	}
	var (
		warnMu sync.Mutex
		warns  []string
	)
	g.alice.OnWarning(func(w string) { warnMu.Lock(); warns = append(warns, w); warnMu.Unlock() })
	for i := range 5 { // each holds 60/3600 × 10000 = 167
		_, err := oneCPU(g.alice, 60)
		require.NoError(t, err)
		warnMu.Lock()
		if i < 4 {
			require.Empty(t, warns, "%d held of 1000: no warning", 167*(i+1))
		} else {
			require.Equal(t, []string{"83% of alice's budget of 0.001 EUR for December 2026 is spent or held (it starts again on 2027-01-01)"}, warns)
		}
		warnMu.Unlock()
	}
	_, err = oneCPU(g.alice, 60)
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, client.CodeBudgetExceeded, apiErr.Code)
	require.Equal(t, 402, apiErr.Status)
	require.Contains(t, apiErr.Message, "budget of 0.001 EUR for December 2026")
	require.Contains(t, apiErr.Hint, "2027-01-01")
	require.EqualValues(t, 835, apiErr.Details["used_micros"])
	require.EqualValues(t, 167, apiErr.Details["asked_micros"])

	_, err = g.alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "n.py", Limits: client.Limits{CPUs: 1}})
	require.True(t, client.IsCode(err, client.CodeBudgetExceeded), "no time limit: an hour is held (10000): %v", err)

	// The five run 36 s each: 100 apiece, not the 167 held.
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 5, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 5)
	for _, lj := range l.Jobs {
		_, err := g.worker.StartAttempt(ctx, client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt})
		require.NoError(t, err)
	}
	g.advance(36 * time.Second)
	exit := 0
	for _, lj := range l.Jobs {
		_, err := g.worker.ReportResult(ctx, client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt},
			client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true})
		require.NoError(t, err)
	}
	j, err := oneCPU(g.alice, 60*3) // 500 spent + 500 held: exactly the budget
	require.NoError(t, err)
	require.Equal(t, int64(180), j.Limits.TimeoutSeconds)
	_, err = oneCPU(g.alice, 1)
	require.True(t, client.IsCode(err, client.CodeBudgetExceeded), "the budget is used up: %v", err)
	_, err = g.bob.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "b.py"})
	require.NoError(t, err, "bob has no budget")

	// Two submissions at once that fit alone but not together.
	for round := range 3 {
		// What the rounds before hold, and room for one more, not two.
		_, err = g.admin.SetUserBudget(ctx, "bob", client.UserBudgetRequest{Micros: ptr64(int64(1000 + 600*round)), Currency: "EUR"})
		require.NoError(t, err)
		errs := make(chan error, 2)
		for range 2 {
			go func() { _, err := oneCPU(g.bob, 216); errs <- err }() // 600 each
		}
		var ok, refused int
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				ok++
			case client.IsCode(err, client.CodeBudgetExceeded):
				refused++
			default:
				require.NoError(t, err)
			}
		}
		require.Equal(t, [2]int{1, 1}, [2]int{ok, refused}, "round %d", round)
	}

	// January: alice's budget starts again (her held job still holds).
	g.advance(22 * 24 * time.Hour)
	_, err = g.worker.Heartbeat(ctx, "w1", client.HeartbeatRequest{})
	require.NoError(t, err)
	_, err = oneCPU(g.alice, 60)
	require.NoError(t, err, "a new month")
}

func ptr64(v int64) *int64 { return &v }

// TestBatchCost: a batch shows what its items cost so far and what the
// whole batch will at its finished items' average; a budgeted user's
// batch holds every item's worst case.
func TestBatchCost(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	_, err := g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 4, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR", CPUs: 2, MemoryBytes: 4 * gib}})
	require.NoError(t, err)
	bat, _, err := g.alice.SubmitBatchRun(ctx, client.BatchRequest{Job: client.SubmitRequest{Script: []byte("x"), FileName: "b.py",
		Limits: client.Limits{CPUs: 1}}, Array: []int{0, 1, 2, 3}})
	require.NoError(t, err)
	got, err := g.alice.Batch(ctx, bat.ID)
	require.NoError(t, err)
	require.Nil(t, got.Cost, "nothing ran")
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 2, WaitSeconds: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 2)
	exit := 0
	for _, lj := range l.Jobs {
		_, err := g.worker.StartAttempt(ctx, client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt})
		require.NoError(t, err)
	}
	for i, lj := range l.Jobs { // 36 s and 72 s: 100 and 200
		g.advance(36 * time.Second)
		_, err := g.worker.ReportResult(ctx, client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt},
			client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true})
		require.NoError(t, err, "item %d", i)
	}
	got, err = g.alice.Batch(ctx, bat.ID)
	require.NoError(t, err)
	require.Equal(t, &client.Money{Micros: 300, Currency: "EUR"}, got.Cost)
	require.Equal(t, &client.Money{Micros: 600, Currency: "EUR"}, got.Projected, "two more at the average of 150")

	_, err = g.admin.SetUserBudget(ctx, "bob", client.UserBudgetRequest{Micros: ptr64(500), Currency: "EUR"})
	require.NoError(t, err)
	_, _, err = g.bob.SubmitBatchRun(ctx, client.BatchRequest{Job: client.SubmitRequest{Script: []byte("x"), FileName: "b.py",
		Limits: client.Limits{CPUs: 1, TimeoutSeconds: 60}}, Array: []int{0, 1, 2}})
	require.True(t, client.IsCode(err, client.CodeBudgetExceeded), "3 × 167 > 500: %v", err)
	_, _, err = g.bob.SubmitBatchRun(ctx, client.BatchRequest{Job: client.SubmitRequest{Script: []byte("x"), FileName: "b.py",
		Limits: client.Limits{CPUs: 1, TimeoutSeconds: 60}}, Array: []int{0, 1}})
	require.NoError(t, err, "2 × 167 fit")
}
