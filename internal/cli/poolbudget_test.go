package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoolBudgetThroughTheCLI: an admin sets, lists and removes a pool's
// budget; bad amounts and currencies are refused naming the fix, and a
// user may not set one.
func TestPoolBudgetThroughTheCLI(t *testing.T) {
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

	if out := as(adminSecret, "admin", "pool", "budgets").ok(t, "budgets"); !strings.Contains(out, "no pool has a budget") {
		t.Errorf("budgets with none:\n%s", out)
	}
	r := as(adminSecret, "admin", "pool", "budget", "gpu")
	wantUsage(t, r.code, r.stderr, "no budget given", "rgrid admin pool budget gpu 50")
	r = as(adminSecret, "admin", "pool", "budget", "gpu", "lots")
	wantUsage(t, r.code, r.stderr, "is not an amount", "decimal amount")
	r = as(adminSecret, "admin", "pool", "budget", "gpu", "5", "--none")
	wantUsage(t, r.code, r.stderr, "both a budget and --none", "not both")
	r = as(adminSecret, "admin", "pool", "budget", "gpu", "5", "--currency", "euro")
	wantUsage(t, r.code, r.stderr, "not a three-letter ISO 4217 code", "rgrid admin pool budget")
	if r := as(aliceSecret, "admin", "pool", "budget", "gpu", "5"); r.code == 0 {
		t.Errorf("a user set a pool's budget:\n%s", r.stdout)
	}
	out := as(adminSecret, "admin", "pool", "budget", "gpu", "200", "--currency", "USD").ok(t, "budget")
	if !strings.Contains(out, "pool gpu: budget 200.00 USD per month, 0.00 used or held (starts again on ") {
		t.Errorf("budget says:\n%s", out)
	}
	table := as(adminSecret, "admin", "pool", "budgets").ok(t, "budgets")
	if line := firstLine(table, "gpu"); !strings.Contains(line, "200.00 USD") || !strings.Contains(line, "0.00") || firstLine(table, "POOL") == "" {
		t.Errorf("budgets table:\n%s", table)
	}
	if out := as(adminSecret, "admin", "pool", "budget", "gpu", "--none").ok(t, "budget --none"); !strings.Contains(out, "pool gpu: no budget") {
		t.Errorf("budget --none says:\n%s", out)
	}
	if out := as(adminSecret, "admin", "pool", "budgets", "--json").ok(t, "budgets --json"); !strings.Contains(out, `"budgets": []`) {
		t.Errorf("budgets --json:\n%s", out)
	}
}
