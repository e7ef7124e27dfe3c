package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/client"
)

// TestCostThroughTheCLI: an admin sets a budget, a priced worker runs a
// job, and rgrid cost shows what it cost to its user and, with the idle
// line, to the admin; bad prices and budgets are refused naming the fix.
func TestCostThroughTheCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "grid.db")
	empty := filepath.Join(dir, "empty.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	adminSecret := secretIn(t, rgrid(t, nil, "--config", empty, "admin", "bootstrap", "--db", db, "--migrate").ok(t, "bootstrap"))
	url := startServerOn(t, db)
	as := func(secret string, args ...string) cliRun {
		return rgrid(t, nil, append([]string{"--config", empty, "--server", url, "--token", secret}, args...)...)
	}
	aliceSecret := secretIn(t, as(adminSecret, "admin", "user", "create", "alice").ok(t, "user create"))
	workerSecret := secretIn(t, as(adminSecret, "admin", "worker-token", "create").ok(t, "worker-token create"))

	r := as(adminSecret, "admin", "user", "budget", "alice")
	wantUsage(t, r.code, r.stderr, "no budget given", "rgrid admin user budget alice 50")
	r = as(adminSecret, "admin", "user", "budget", "alice", "1e3")
	wantUsage(t, r.code, r.stderr, "is not an amount", "decimal amount")
	r = as(adminSecret, "admin", "user", "budget", "alice", "5", "--currency", "euro")
	wantUsage(t, r.code, r.stderr, "not a three-letter ISO 4217 code", "rgrid admin user budget")
	if out := as(adminSecret, "admin", "user", "budget", "alice", "0.50").ok(t, "budget"); !strings.Contains(out, "alice: budget 0.50 EUR per month") {
		t.Errorf("budget says:\n%s", out)
	}
	if line := firstLine(as(adminSecret, "admin", "user", "list").ok(t, "user list"), "alice"); !strings.Contains(line, "0.50 EUR") {
		t.Errorf("user list shows alice as %q", line)
	}
	r = rgrid(t, nil, "--config", empty, "worker", "--server", url, "--price-per-hour", "two euros")
	wantUsage(t, r.code, r.stderr, "--price-per-hour", "--price-per-hour 0.02")
	r = rgrid(t, nil, "--config", empty, "worker", "--server", url, "--price-per-hour", "0.02", "--currency", "€")
	wantUsage(t, r.code, r.stderr, "not a currency code", "--currency EUR")

	// A priced worker (through the API, as rgrid worker registers) runs
	// one of alice's jobs for a minute of the server's clock: the
	// server's own clock here, so the job runs between two reports.
	ctx := t.Context()
	alice, err := client.New(url, aliceSecret)
	if err != nil {
		t.Fatal(err)
	}
	wk, err := client.New(url, workerSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wk.Register(ctx, client.RegisterRequest{ID: "w1", Slots: 1, Executor: "process",
		Pricing: &client.Pricing{PriceMicrosPerHour: 3_600_000_000, Currency: "EUR", CPUs: 1}}); err != nil {
		t.Fatal(err)
	}
	j, err := alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "a.py", Limits: client.Limits{CPUs: 1, TimeoutSeconds: 1}})
	if client.IsCode(err, client.CodeBudgetExceeded) {
		// 1 s at 3600 EUR per hour is 1 EUR: more than the budget.
		if out := as(adminSecret, "admin", "user", "budget", "alice", "2").ok(t, "raise budget"); !strings.Contains(out, "2.00 EUR") {
			t.Errorf("budget says:\n%s", out)
		}
		j, err = alice.Submit(ctx, client.SubmitRequest{Script: []byte("x"), FileName: "a.py", Limits: client.Limits{CPUs: 1, TimeoutSeconds: 1}})
	} else {
		t.Errorf("a submission holding 1 EUR passed a budget of 0.50: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	l, err := wk.Lease(ctx, "w1", client.LeaseRequest{Max: 1, WaitSeconds: 5})
	if err != nil || len(l.Jobs) != 1 {
		t.Fatalf("lease: %v, %d jobs", err, len(l.Jobs))
	}
	ref := client.AttemptRef{JobID: j.ID, Attempt: l.Jobs[0].Attempt}
	if _, err := wk.StartAttempt(ctx, ref); err != nil {
		t.Fatal(err)
	}
	exit := 0
	if _, err := wk.ReportResult(ctx, ref, client.ResultReport{State: client.StateSucceeded, ExitCode: &exit, Started: true}); err != nil {
		t.Fatal(err)
	}

	out := as(aliceSecret, "status", j.ID).ok(t, "status")
	if !strings.Contains(out, "Cost:") || !strings.Contains(out, " EUR") {
		t.Errorf("status shows no cost:\n%s", out)
	}
	var rep client.CostReport
	if err := json.Unmarshal([]byte(as(aliceSecret, "cost", "--since", "1h", "--json").ok(t, "cost --json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Key != "alice" || rep.Rows[0].Jobs != 1 || rep.Rows[0].Cost.Currency != "EUR" || len(rep.Idle) != 0 {
		t.Errorf("alice's report: %+v", rep)
	}
	table := as(adminSecret, "cost", "--since", "1h").ok(t, "cost")
	if !strings.Contains(firstLine(table, "alice"), "EUR") || firstLine(table, "idle (") == "" || firstLine(table, "total") == "" {
		t.Errorf("the admin's cost table:\n%s", table)
	}
	r = as(adminSecret, "cost", "--by", "colour")
	if r.code == 0 || !strings.Contains(r.stderr, "by=user") {
		t.Errorf("cost --by colour: exit %d\n%s", r.code, r.stderr)
	}
}
