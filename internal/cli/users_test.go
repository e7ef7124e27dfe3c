package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
)

var secretPattern = regexp.MustCompile(`rg[uw]_[A-Za-z0-9]{40}`)

// cliRun is one rgrid invocation with its standard input.
type cliRun struct {
	code           int
	stdout, stderr string
}

func rgrid(t *testing.T, stdin *os.File, args ...string) cliRun {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), &env{stdin: stdin, stdout: &out, stderr: &errb}, args)
	return cliRun{code, out.String(), errb.String()}
}

// ok fails the test unless r exited 0, and returns its stdout.
func (r cliRun) ok(t *testing.T, what string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// secretIn is the one token secret a command printed.
func secretIn(t *testing.T, out string) string {
	t.Helper()
	found := secretPattern.FindAllString(out, -1)
	if len(found) == 0 {
		t.Fatalf("no token in:\n%s", out)
	}
	for _, s := range found[1:] {
		if s != found[0] {
			t.Fatalf("two tokens in:\n%s", out)
		}
	}
	return found[0]
}

// stdinWith is a pipe holding text, as "echo TOKEN | rgrid login" gives.
func stdinWith(t *testing.T, text string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := w.WriteString(text); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return r
}

// The first admin, users, tokens, worker tokens, limits and the audit log,
// driven through the commands against a real server on the database that
// rgrid admin bootstrap wrote.
func TestUsersAndTokensThroughTheCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "grid.db")
	empty := filepath.Join(dir, "empty.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// Without a server, nothing is made in the embedded grid's database.
	r := rgrid(t, nil, "--config", empty, "token", "create")
	wantUsage(t, r.code, r.stderr, "no server given", "rgrid login SERVER")

	out := rgrid(t, nil, "--config", empty, "admin", "bootstrap", "--db", db, "--migrate").ok(t, "bootstrap")
	adminSecret := secretIn(t, out)
	if !strings.Contains(out, "shown once") || !strings.Contains(out, "rgrid login SERVER") {
		t.Errorf("bootstrap does not say the token is shown once and how to use it:\n%s", out)
	}
	url := startServerOn(t, db)

	// The admin logs in with the token on standard input (a pipe), into a
	// config file that does not exist yet.
	adminCfg := filepath.Join(dir, "admin", "rgrid", "config.toml")
	r = rgrid(t, stdinWith(t, adminSecret+"\n"), "--config", adminCfg, "login", url)
	if out := r.ok(t, "admin login"); !strings.Contains(out, "logged in to "+url+" as admin (admin)") {
		t.Errorf("admin login says:\n%s", out)
	}
	if strings.Contains(r.stdout+r.stderr, adminSecret) {
		t.Errorf("login printed the token:\n%s%s", r.stdout, r.stderr)
	}
	wantMode(t, adminCfg, 0o600)
	wantMode(t, filepath.Dir(adminCfg), 0o700)
	admin := func(args ...string) cliRun { return rgrid(t, nil, append([]string{"--config", adminCfg}, args...)...) }

	out = admin("admin", "user", "create", "alice").ok(t, "user create")
	aliceSecret := secretIn(t, out)
	if !strings.Contains(out, "Made user alice (user)") || !strings.Contains(out, "rgrid login "+url) {
		t.Errorf("user create says:\n%s", out)
	}
	r = admin("admin", "user", "create", "alice")
	wantUsage(t, r.code, r.stderr, `user "alice" exists`, "pick another name")

	// Alice logs in with --token into a file she already had, open to
	// others: her settings stay, the mode is tightened.
	aliceCfg := filepath.Join(dir, "alice.toml")
	if err := os.WriteFile(aliceCfg, []byte("slots = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(aliceCfg, 0o644); err != nil {
		t.Fatal(err)
	}
	r = rgrid(t, nil, "--config", aliceCfg, "login", url, "--token", aliceSecret)
	if out := r.ok(t, "alice login"); !strings.Contains(out, "as alice (user)") || !strings.Contains(r.stderr, "mode 0644") {
		t.Errorf("alice login says:\n%s%s", out, r.stderr)
	}
	if text := mustRead(t, aliceCfg); !strings.Contains(text, "slots = 2") || !strings.Contains(text, aliceSecret) {
		t.Errorf("alice's config:\n%s", text)
	}
	wantMode(t, aliceCfg, 0o600)
	alice := func(args ...string) cliRun { return rgrid(t, nil, append([]string{"--config", aliceCfg}, args...)...) }

	if out := alice("whoami").ok(t, "whoami"); !strings.HasPrefix(out, "alice (user) on "+url+", token "+aliceSecret[:12]) {
		t.Errorf("whoami says %q", out)
	}

	out = alice("token", "create", "--name", "laptop", "--expires", "90d").ok(t, "token create")
	laptop := secretIn(t, out)
	if !strings.Contains(out, "Token "+laptop[:12]+" for alice, expiring ") {
		t.Errorf("token create says:\n%s", out)
	}
	r = alice("token", "create", "--expires", "90 days")
	wantUsage(t, r.code, r.stderr, `--expires "90 days": not a duration`, "90d (days)")

	out = alice("token", "list").ok(t, "token list")
	if !strings.Contains(out, laptop[:12]) || !strings.Contains(out, aliceSecret[:12]) || !strings.Contains(out, "laptop") ||
		strings.Count(out, "\n") != 3 || strings.Contains(out, adminSecret[:12]) {
		t.Errorf("alice's token list:\n%s", out)
	}
	var listed []client.Token
	if err := json.Unmarshal([]byte(alice("token", "list", "--json").ok(t, "token list --json")), &listed); err != nil || len(listed) != 2 {
		t.Errorf("token list --json: %v %v", listed, err)
	}

	if out := alice("token", "revoke", laptop[:12]).ok(t, "revoke"); !strings.Contains(out, "revoked "+laptop[:12]+` (user alice, named "laptop")`) {
		t.Errorf("revoke says %q", out)
	}
	r = alice("whoami", "--token", laptop)
	wantUsage(t, r.code, r.stderr, "was revoked", "ask for a new token")
	r = alice("token", "revoke", adminSecret[:12])
	wantUsage(t, r.code, r.stderr, "no token "+adminSecret[:12], "rgrid token list")

	// A user asking for an admin's command is told what it takes.
	r = alice("admin", "user", "list")
	wantUsage(t, r.code, r.stderr, "this endpoint is not for user alice's token (user)", "ask an admin")

	out = admin("admin", "worker-token", "create", "--pool", "gpu", "--name", "rack", "--expires", "12h").ok(t, "worker-token create")
	worker := secretIn(t, out)
	if !strings.HasPrefix(worker, "rgw_") || !strings.Contains(out, "rgrid worker --server "+url+" --token "+worker) {
		t.Errorf("worker-token create says:\n%s", out)
	}
	if out := admin("whoami", "--token", worker).ok(t, "worker whoami"); !strings.Contains(out, `a worker token `+worker[:12]+` (pool "gpu")`) {
		t.Errorf("worker whoami says %q", out)
	}
	r = rgrid(t, nil, "--config", filepath.Join(dir, "w.toml"), "login", url, "--token", worker)
	wantUsage(t, r.code, r.stderr, "is a worker token", "rgrid worker --token")
	r = rgrid(t, stdinWith(t, "rgu_"+strings.Repeat("x", 40)), "--config", filepath.Join(dir, "w.toml"), "login", url)
	wantUsage(t, r.code, r.stderr, "refused the token", "rgrid token list")
	if _, err := os.Stat(filepath.Join(dir, "w.toml")); err == nil {
		t.Error("a refused login wrote a config file")
	}

	for _, step := range []struct{ args, want string }{
		{"--max-queued 5", "alice: max queued 5, max running default"},
		{"--max-running 0", "alice: max queued 5, max running none"},
		{"--max-queued default --max-running 2", "alice: max queued default, max running 2"},
	} {
		args := append([]string{"admin", "user", "limits", "alice"}, strings.Fields(step.args)...)
		if out := admin(args...).ok(t, step.args); strings.TrimSpace(out) != step.want {
			t.Errorf("limits %s: %q, want %q", step.args, out, step.want)
		}
	}
	r = admin("admin", "user", "limits", "alice", "--max-queued", "-1")
	wantUsage(t, r.code, r.stderr, `--max-queued "-1": not a limit`, "0 for no limit")
	r = admin("admin", "user", "limits", "nobody", "--max-queued", "1")
	wantUsage(t, r.code, r.stderr, `no user "nobody"`, "rgrid admin user list")
	if out := admin("admin", "user", "list").ok(t, "user list"); !regexp.MustCompile(`(?m)^alice\s+user\s+default\s+2\s+none\s+\d{4}-`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^admin\s+admin\s+default\s+default\s`).MatchString(out) {
		t.Errorf("user list:\n%s", out)
	}

	out = admin("token", "list", "--all").ok(t, "token list --all")
	if !regexp.MustCompile(regexp.QuoteMeta(laptop[:12])+`\s+user\s+alice\s+laptop\s.*\d{2}:\d{2}:\d{2}\s*$`).MatchString(firstLine(out, laptop[:12])) ||
		!regexp.MustCompile(regexp.QuoteMeta(worker[:12])+`\s+worker\s+pool "gpu"\s+rack\s`).MatchString(out) {
		t.Errorf("token list --all (the revoked one with its time, the worker's pool):\n%s", out)
	}

	out = admin("admin", "audit").ok(t, "audit")
	var order []int
	for _, action := range []string{"user.limits", "worker_token.create", "token.revoke", "user.create", "the first admin token"} {
		i := strings.Index(out, action)
		if i < 0 {
			t.Errorf("the audit log has no %s:\n%s", action, out)
		}
		order = append(order, i)
	}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Errorf("the audit log is not newest first:\n%s", out)
		}
	}
	var page client.AuditPage
	if err := json.Unmarshal([]byte(admin("admin", "audit", "--limit", "2", "--json").ok(t, "audit --json")), &page); err != nil ||
		len(page.Entries) != 2 || page.Next == "" || page.Entries[0].Action != "user.limits" {
		t.Errorf("audit --limit 2 --json: %+v %v", page, err)
	}
	if r := admin("admin", "audit", "--limit", "2"); !strings.Contains(r.stderr, "more: rgrid admin audit --before ") {
		t.Errorf("a cut audit page does not say how to go on: %q", r.stderr)
	}

	// A second login replaces the token in the file.
	rgrid(t, nil, "--config", aliceCfg, "login", url, "--token", adminSecret).ok(t, "second login")
	if text := mustRead(t, aliceCfg); strings.Contains(text, aliceSecret) || !strings.Contains(text, adminSecret) || strings.Count(text, "token =") != 1 {
		t.Errorf("after a second login:\n%s", text)
	}
}

func firstLine(text, containing string) string {
	for line := range strings.Lines(text) {
		if strings.Contains(line, containing) {
			return strings.TrimRight(line, "\n")
		}
	}
	return ""
}

func startServerOn(t *testing.T, db string) string {
	t.Helper()
	st, err := database.Open(t.Context(), db, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rt, _ := runtimes.New(nil)
	ts := httptest.NewServer(server.New(st, rt, slog.New(slog.DiscardHandler), server.Options{AuthRequired: true}).Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}
