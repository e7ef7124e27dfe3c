package server_test

import (
	"testing"
	"time"

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
