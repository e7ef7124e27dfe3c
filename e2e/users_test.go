package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testdb"
)

// tokenGrid is a PostgreSQL server with a bootstrap admin, users alice
// and bob, and a worker running with a worker token.
type tokenGrid struct {
	db, url                 string
	env                     []string
	server, worker          *proc
	admin                   *client.Client
	adminSecret, alice, bob string
	workerSecret            string
	secrets                 []string
}

func newTokenGrid(t *testing.T) *tokenGrid {
	t.Helper()
	g := &tokenGrid{db: testdb.PostgresURL(t), env: isolatedEnv(t)}
	file := filepath.Join(t.TempDir(), "admin.token")
	g.server, g.url = startServer(t, g.env, g.db, "--bootstrap-token-file", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the server wrote no bootstrap token: %v\n%s", err, g.server.output())
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("bootstrap token file mode %v, want 0600", fi.Mode().Perm())
	}
	g.adminSecret = strings.TrimSpace(string(b))
	g.admin, err = client.New(g.url, g.adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string) string {
		res, err := g.admin.CreateUser(t.Context(), client.CreateUserRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return res.Token.Secret
	}
	g.alice, g.bob = mk("alice"), mk("bob")
	wt, err := g.admin.CreateWorkerToken(t.Context(), client.CreateTokenRequest{Pool: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	g.workerSecret = wt.Secret
	g.secrets = []string{g.adminSecret, g.alice, g.bob, g.workerSecret}
	g.worker = start(t, g.env, "worker", "--server", g.url, "--worker-id", "tw1", "--slots", "2",
		"--executor", "process", "--token", g.workerSecret)
	g.worker.waitReady(t, "registered as tw1", func() bool { return g.workerActive("tw1") })
	return g
}

func (g *tokenGrid) workerActive(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ws, err := g.admin.Workers(ctx)
	return err == nil && slices.ContainsFunc(ws, func(w client.Worker) bool { return w.ID == id && w.State == "active" })
}

// as runs the CLI with token.
func (g *tokenGrid) as(t *testing.T, token string, args ...string) result {
	t.Helper()
	return rgrid(t, append(slices.Clip(g.env), "RGRID_SERVER="+g.url, "RGRID_TOKEN="+token), args...)
}

// Users A and B: B's status, logs, logs -f, cancel and outputs on A's job
// answer not found; A's work; an admin sees both. A user token cannot
// act as a worker, a worker token cannot act as a user. No token is
// stored in clear or logged.
func TestUsersIsolationEndToEnd(t *testing.T) {
	t.Parallel()
	g := newTokenGrid(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "work.sh")
	if err := os.WriteFile(script, []byte("echo alice-was-here\necho result > result.txt\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := g.as(t, g.alice, "run", "--detach", "--workdir", dir, script)
	if run.code != 0 {
		t.Fatalf("alice's run: %d %s", run.code, run.stderr)
	}
	id := strings.TrimSpace(run.stdout)
	if f := g.as(t, g.alice, "logs", "-f", id); f.code != 0 || f.stdout != "alice-was-here\n" {
		t.Fatalf("alice's logs -f: %d %q %s", f.code, f.stdout, f.stderr)
	}
	for _, args := range [][]string{{"status", id}, {"logs", id}, {"logs", "-f", id}, {"cancel", id}, {"outputs", id}} {
		r := g.as(t, g.bob, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "not found") {
			t.Errorf("bob: rgrid %s: code %d, stderr %q; want not found", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if l := g.as(t, g.bob, "list"); l.code != 0 || strings.Contains(l.stdout, id) {
		t.Errorf("bob lists alice's job: %d %q", l.code, l.stdout)
	}
	if s := g.as(t, g.alice, "status", id); s.code != 0 || !strings.Contains(s.stdout, "succeeded") {
		t.Errorf("alice's status: %d %q %s", s.code, s.stdout, s.stderr)
	}
	out := t.TempDir()
	if o := g.as(t, g.alice, "outputs", id, "-o", out); o.code != 0 {
		t.Errorf("alice's outputs: %d %s", o.code, o.stderr)
	} else if b, err := os.ReadFile(filepath.Join(out, "result.txt")); err != nil || string(b) != "result\n" {
		t.Errorf("alice's result.txt: %q %v", b, err)
	}
	if l := g.as(t, g.adminSecret, "list"); !strings.Contains(l.stdout, id) {
		t.Errorf("the admin does not see alice's job: %q %s", l.stdout, l.stderr)
	}

	// A user token cannot be a worker; a worker token cannot be a user.
	w := g.as(t, g.alice, "worker", "--worker-id", "rogue", "--executor", "process")
	if w.code == 0 || !strings.Contains(w.stderr, "worker token") {
		t.Errorf("a worker with a user token: code %d, stderr %q", w.code, w.stderr)
	}
	if l := g.as(t, g.workerSecret, "list"); l.code == 0 || !strings.Contains(l.stderr, "worker token") {
		t.Errorf("list with a worker token: code %d, stderr %q", l.code, l.stderr)
	}
	if r := g.as(t, g.workerSecret, "run", script); r.code == 0 {
		t.Errorf("run with a worker token succeeded")
	}

	for _, s := range g.secrets {
		if tables := testdb.DumpContains(t, g.db, s); len(tables) > 0 {
			t.Errorf("a token (%s…) is stored in clear in %v", s[:12], tables)
		}
		for name, p := range map[string]*proc{"server": g.server, "worker": g.worker} {
			if strings.Contains(p.output(), s[12:]) {
				t.Errorf("the %s's log holds a token (%s…)", name, s[:12])
			}
		}
	}
}

// cutOnce is a reverse proxy that forwards the first POST /v1/jobs to the
// server and then cuts the client's connection instead of answering, as a
// network failure after the server committed would.
type cutOnce struct {
	proxy *httputil.ReverseProxy
	cut   atomic.Bool
	posts atomic.Int32
}

func (c *cutOnce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/jobs" {
		c.proxy.ServeHTTP(w, r)
		return
	}
	c.posts.Add(1)
	if c.cut.Swap(true) {
		c.proxy.ServeHTTP(w, r)
		return
	}
	rec := &discard{header: http.Header{}}
	c.proxy.ServeHTTP(rec, r) // the server makes the job; its answer is lost
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

type discard struct {
	header http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(s int)           { d.status = s }

// A submission whose answer is lost to a cut connection is sent again
// with the same Idempotency-Key, and the grid has one job.
func TestSubmitRetriedAfterCutConnectionMakesOneJob(t *testing.T) {
	t.Parallel()
	g := newTokenGrid(t)
	target, err := url.Parse(g.url)
	if err != nil {
		t.Fatal(err)
	}
	cut := &cutOnce{proxy: httputil.NewSingleHostReverseProxy(target)}
	srv := &http.Server{Handler: cut, ReadHeaderTimeout: 10 * time.Second}
	ln := listenLoopback(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	script := writeScript(t, "once.sh", "echo once\n")
	r := rgrid(t, append(slices.Clip(g.env), "RGRID_SERVER=http://"+ln.Addr().String(), "RGRID_TOKEN="+g.alice), "run", "--no-workdir", script)
	if r.code != 0 || r.stdout != "once\n" {
		t.Fatalf("run through the cut: code %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	if n := cut.posts.Load(); n != 2 {
		t.Errorf("the CLI posted the job %d times, want 2 (the cut one and its retry)", n)
	}
	alice, _ := client.New(g.url, g.alice)
	list, err := alice.Jobs(t.Context(), client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Jobs) != 1 {
		t.Errorf("alice has %d jobs, want 1", len(list.Jobs))
	}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
