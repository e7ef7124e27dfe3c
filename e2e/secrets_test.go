package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/testdb"
)

// workerCredentials are what a worker's own environment holds; a job must
// see none of them.
var workerCredentials = []string{
	"RGRID_TOKEN=worker-token-e2e-Q8zv1Lr0",
	"AWS_ACCESS_KEY_ID=AKIAE2EEXAMPLE0042",
	"AWS_SECRET_ACCESS_KEY=aws-secret-e2e-Vb7Nn1Pp0",
	"RGRID_SECRET_KEY_FILE=/nonexistent/secret-key-e2e-7Hq",
}

// A secret goes from the user's shell to the job and nowhere else: not to
// the database in clear, not to status, not to the server's or the
// worker's log; and the worker's own credentials do not reach the job.
func TestSecretEnvEndToEnd(t *testing.T) {
	t.Parallel()
	const value = "e2e-S3cret-Value-4Kp8Zw"
	keyFile := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := testdb.PostgresURL(t)
	env := isolatedEnv(t)
	server, url := startServer(t, env, db, "--secret-key-file", keyFile)
	// The worker gets the credentials, and a --secret-key-file of its own
	// to ignore (RGRID_SECRET_KEY_FILE is the server's setting).
	worker := startWorker(t, append(env[:len(env):len(env)], workerCredentials...), url, "sw1", 2, "--executor", "process")
	g := &grid{env: append(env[:len(env):len(env)], "MY_SECRET="+value), url: url, c: newClient(t, url)}

	// The job proves it has the value without printing it (its output is
	// stored as it is: printed, the value would be in the database).
	sum := sha256.Sum256([]byte(value))
	want := hex.EncodeToString(sum[:])
	script := writeScript(t, "secret.sh", `printf %s "$MY_SECRET" | sha256sum | cut -c1-64
env | grep -v '^MY_SECRET=' | sort >&2
`)
	const plain = "plain-e2e-Value-77xQ" // a plain --env value: kept out of the logs too
	r := g.rgrid(t, "run", "--secret-env", "MY_SECRET", "-e", "PLAIN_VAR="+plain, "--detach", script)
	if r.code != 0 {
		t.Fatalf("run: code %d stderr %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	f := g.rgrid(t, "logs", "-f", id)
	if f.stdout != want+"\n" {
		t.Errorf("the job printed %q, want its secret's hash %s", f.stdout, want)
	}
	for _, kv := range workerCredentials {
		if k, v, _ := strings.Cut(kv, "="); strings.Contains(f.stderr, v) || strings.Contains(f.stderr, k+"=") {
			t.Errorf("the job sees the worker's %s", kv)
		}
	}
	if !strings.Contains(f.stderr, "HOME=") || !strings.Contains(f.stderr, "PLAIN_VAR="+plain) {
		t.Fatalf("the job's env was not printed: %q", f.stderr)
	}
	s := g.rgrid(t, "status", id)
	if !strings.Contains(s.stdout, "MY_SECRET=****") || strings.Contains(s.stdout, value) {
		t.Errorf("status does not mask the secret:\n%s", s.stdout)
	}
	if js := g.rgrid(t, "status", "--json", id); !strings.Contains(js.stdout, `"MY_SECRET"`) || strings.Contains(js.stdout, value) {
		t.Errorf("status --json does not name the secret alone:\n%s", js.stdout)
	}

	// A batch's items each get it.
	check := writeScript(t, "check.sh", `[ "$(printf %s "$MY_SECRET" | sha256sum | cut -c1-64)" = "`+want+`" ] || exit 9
`)
	if b := g.rgrid(t, "run", "--secret-env", "MY_SECRET", "--array", "0-2", check); b.code != 0 {
		t.Errorf("batch: code %d, stderr %s", b.code, b.stderr)
	}

	// An unset variable is refused before anything is sent.
	u := g.rgrid(t, "run", "--secret-env", "NOT_SET_ANYWHERE", script)
	if u.code != 2 || !strings.Contains(u.stderr, "NOT_SET_ANYWHERE is not set") || !strings.Contains(u.stderr, "export NOT_SET_ANYWHERE") {
		t.Errorf("unset secret: code %d stderr %q", u.code, u.stderr)
	}

	if tables := testdb.DumpContains(t, db, value); len(tables) > 0 {
		t.Errorf("the secret is stored in clear in %v", tables)
	}
	for name, p := range map[string]*proc{"server": server, "worker": worker} {
		if out := p.output(); strings.Contains(out, value) || strings.Contains(out, plain) {
			t.Errorf("the %s's log holds a job's environment value:\n%s", name, out)
		}
	}
	if !strings.Contains(server.output(), "secret key loaded") {
		t.Errorf("the server does not say it loaded its key:\n%s", server.output())
	}
}

// Embedded, rgrid makes its key in the data directory on first need,
// readable by its owner only, and keeps using it.
func TestSecretEnvEmbeddedMakesItsKey(t *testing.T) {
	t.Parallel()
	const value = "embedded-S3cret-9Wq2Lx"
	env := isolatedEnv(t, "MY_SECRET="+value)
	sum := sha256.Sum256([]byte(value))
	script := writeScript(t, "check.sh", `[ "$(printf %s "$MY_SECRET" | sha256sum | cut -c1-64)" = "`+hex.EncodeToString(sum[:])+`" ] || exit 9
echo ok
`)
	keyFile := filepath.Join(envValue(env, "RGRID_DATA_DIR"), "secret.key")
	var first []byte
	for i := range 2 {
		r := rgrid(t, env, "run", "--secret-env", "MY_SECRET", script)
		if r.code != 0 || r.stdout != "ok\n" {
			t.Fatalf("run %d: code %d stdout %q stderr %s", i, r.code, r.stdout, r.stderr)
		}
		fi, err := os.Stat(keyFile)
		if err != nil {
			t.Fatalf("run %d made no key file: %v", i, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %o, want 600", fi.Mode().Perm())
		}
		key, _ := os.ReadFile(keyFile)
		if i == 0 {
			first = key
		} else if string(key) != string(first) {
			t.Error("the second run made another key")
		}
	}
	if tables := testdb.DumpContains(t, filepath.Join(envValue(env, "RGRID_DATA_DIR"), "rgrid.db"), value); len(tables) > 0 {
		t.Errorf("the secret is stored in clear in %v", tables)
	}
}

// A server on PostgreSQL without --secret-key-file refuses secrets, and
// the user is told what to ask its operator for.
func TestSecretEnvRefusedWithoutKey(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t)
	server, url := startServer(t, env, testdb.PostgresURL(t))
	script := writeScript(t, "x.sh", "echo hi\n")
	r := rgrid(t, append(env[:len(env):len(env)], "RGRID_SERVER="+url, "MY_SECRET=refused-S3cret-Value-1"),
		"run", "--secret-env", "MY_SECRET", script)
	if r.code != 2 || !strings.Contains(r.stderr, "no secret key") || !strings.Contains(r.stderr, "--secret-key-file") {
		t.Errorf("code %d stderr %q, want a usage error naming --secret-key-file", r.code, r.stderr)
	}
	if !strings.Contains(server.output(), "no --secret-key-file") {
		t.Errorf("the server does not say it keeps no secrets:\n%s", server.output())
	}
}
