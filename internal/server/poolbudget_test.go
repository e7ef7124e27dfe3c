package server_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/server"
)

// TestPoolBudget: the workers of a pool with a budget lease only the jobs
// whose worst case fits what is left (a worker of another pool takes the
// rest); when every pool of the live workers has used up its budget a
// submission is refused with budget_exceeded naming the budgets and the
// reset date; a job's end settles its hold to what it cost; a job without
// a time limit leased by such a worker gets one, so that it has a worst
// case. Budgets are admin-only, listed with what they used, and audited.
func TestPoolBudget(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	g.mu.Lock()
	g.now = time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	g.mu.Unlock()
	priced := &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR", CPUs: 2, MemoryBytes: 4 * gib}
	_, err := g.worker.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 10, Executor: "process", Pricing: priced})
	require.NoError(t, err)
	tok, err := g.admin.CreateWorkerToken(ctx, client.CreateTokenRequest{Pool: "gpu", Name: "g"})
	require.NoError(t, err)
	gpu := g.client(t, tok.Secret)
	_, err = gpu.Register(ctx, client.RegisterRequest{ID: "g1", Slots: 10, Executor: "process", Pricing: priced})
	require.NoError(t, err)

	for _, bad := range []client.PoolBudgetRequest{{Micros: ptr64(-1), Currency: "EUR"}, {Micros: ptr64(5), Currency: "eur"}} {
		_, err := g.admin.SetPoolBudget(ctx, "default", bad)
		require.True(t, client.IsCode(err, client.CodeInvalidRequest), "%+v: %v", bad, err)
	}
	_, err = g.alice.SetPoolBudget(ctx, "default", client.PoolBudgetRequest{Micros: ptr64(1 << 40), Currency: "EUR"})
	forbidden(t, err, "a user setting a pool's budget")
	_, err = g.alice.PoolBudgets(ctx)
	forbidden(t, err, "a user listing pool budgets")
	b, err := g.admin.SetPoolBudget(ctx, "default", client.PoolBudgetRequest{Micros: ptr64(10000), Currency: "EUR"})
	require.NoError(t, err)
	require.Equal(t, client.PoolBudget{Pool: "default", Micros: ptr64(10000), Currency: "EUR", Resets: "2027-01-01"}, b)

	var ids []string
	for range 3 { // 1 CPU of 2 for half an hour: 5000 each held
		j, err := g.alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "a.py",
			Limits: client.Limits{CPUs: 1, TimeoutSeconds: 1800}})
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	l, err := g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 2, "the budget holds two")
	require.Equal(t, []string{ids[0], ids[1]}, []string{l.Jobs[0].Job.ID, l.Jobs[1].Job.ID})
	// gpu's budget is what one job holds: it takes the third, and every
	// pool is used up.
	_, err = g.admin.SetPoolBudget(ctx, "gpu", client.PoolBudgetRequest{Micros: ptr64(5000), Currency: "EUR"})
	require.NoError(t, err)
	other, err := gpu.Lease(ctx, "g1", client.LeaseRequest{Max: 5})
	require.NoError(t, err)
	require.Len(t, other.Jobs, 1, "another pool takes what does not fit")
	require.Equal(t, ids[2], other.Jobs[0].Job.ID)

	list, err := g.admin.PoolBudgets(ctx)
	require.NoError(t, err)
	require.Equal(t, []client.PoolBudget{
		{Pool: "default", Micros: ptr64(10000), Currency: "EUR", UsedMicros: 10000, Resets: "2027-01-01"},
		{Pool: "gpu", Micros: ptr64(5000), Currency: "EUR", UsedMicros: 5000, Resets: "2027-01-01"},
	}, list.Budgets)
	_, err = g.bob.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "b.py"})
	var apiErr *client.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, client.CodeBudgetExceeded, apiErr.Code)
	require.Equal(t, 402, apiErr.Status)
	require.Contains(t, apiErr.Message, "every pool that could run this job has used up its budget for December 2026")
	require.Contains(t, apiErr.Message, "pool default's budget of 0.01 EUR (0.01 used or held)")
	require.Contains(t, apiErr.Message, "pool gpu's budget of 0.005 EUR (0.005 used or held)")
	require.Contains(t, apiErr.Hint, "2027-01-01")
	require.Equal(t, "2027-01-01", apiErr.Details["resets"])

	// The two run 36 s: 100 each, not the 5000 held; submissions pass.
	exit := 0
	for _, lj := range l.Jobs {
		_, err := g.worker.StartAttempt(ctx, client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt})
		require.NoError(t, err)
	}
	g.advance(36 * time.Second)
	for _, lj := range l.Jobs {
		_, err := g.worker.ReportResult(ctx, client.AttemptRef{JobID: lj.Job.ID, Attempt: lj.Attempt},
			client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true})
		require.NoError(t, err)
	}
	list, err = g.admin.PoolBudgets(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(200), list.Budgets[0].UsedMicros)
	require.Equal(t, int64(5000), list.Budgets[1].UsedMicros, "gpu's job still runs: held")
	j, err := g.bob.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "b.py", Limits: client.Limits{CPUs: 1}})
	require.NoError(t, err, "the default pool has room again")

	// No time limit: the budget's job timeout (1 h, 10000) is its worst
	// case, more than the 9800 left; with a larger budget it is leased
	// with that limit.
	l, err = g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 5})
	require.NoError(t, err)
	require.Empty(t, l.Jobs)
	_, err = g.admin.SetPoolBudget(ctx, "default", client.PoolBudgetRequest{Micros: ptr64(1_000_000), Currency: "EUR"})
	require.NoError(t, err)
	l, err = g.worker.Lease(ctx, "w1", client.LeaseRequest{Max: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1)
	require.Equal(t, j.ID, l.Jobs[0].Job.ID)
	require.Equal(t, int64(3600), l.Jobs[0].Job.Limits.TimeoutSeconds)

	b, err = g.admin.SetPoolBudget(ctx, "gpu", client.PoolBudgetRequest{})
	require.NoError(t, err)
	require.Nil(t, b.Micros)
	list, err = g.admin.PoolBudgets(ctx)
	require.NoError(t, err)
	require.Len(t, list.Budgets, 1)
	page, err := g.admin.Audit(ctx, "", 10)
	require.NoError(t, err)
	var audited []string
	for _, e := range page.Entries {
		if e.Action == "pool.budget" {
			audited = append(audited, e.Target+": "+e.Detail)
		}
	}
	require.Equal(t, []string{"gpu: none", "default: 1.00 EUR per month", "gpu: 0.005 EUR per month", "default: 0.01 EUR per month"}, audited)
}

// A submission that a pool at 80% or more of its budget could run is
// answered with a warning naming that pool's budget and its reset date.
func TestPoolBudgetWarns(t *testing.T) {
	t.Parallel()
	g := newGrid(t, server.Options{})
	ctx := t.Context()
	g.mu.Lock()
	g.now = time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	g.mu.Unlock()
	tok, err := g.admin.CreateWorkerToken(ctx, client.CreateTokenRequest{Pool: "gpu", Name: "g"})
	require.NoError(t, err)
	gpu := g.client(t, tok.Secret)
	_, err = gpu.Register(ctx, client.RegisterRequest{ID: "g1", Slots: 10, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 20000, Currency: "EUR", CPUs: 2, MemoryBytes: 4 * gib}})
	require.NoError(t, err)
	_, err = g.admin.SetPoolBudget(ctx, "gpu", client.PoolBudgetRequest{Micros: ptr64(6000), Currency: "EUR"})
	require.NoError(t, err)

	var warnings []string
	g.bob.OnWarning(func(m string) { warnings = append(warnings, m) })
	submit := func() {
		t.Helper()
		_, err := g.bob.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "b.py",
			Limits: client.Limits{CPUs: 1, TimeoutSeconds: 1800}})
		require.NoError(t, err)
	}
	submit()
	require.Empty(t, warnings, "nothing is spent or held yet")
	l, err := gpu.Lease(ctx, "g1", client.LeaseRequest{Max: 5})
	require.NoError(t, err)
	require.Len(t, l.Jobs, 1, "5000 of 6000 held")
	submit()
	require.Equal(t, []string{"83% of pool gpu's budget of 0.006 EUR for December 2026 is spent or held (it starts again on 2027-01-01)"}, warnings)
}
