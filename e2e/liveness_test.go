package e2e

// Liveness end to end: workers killed with SIGKILL, restarted, cut off from
// the server by a proxy the test controls, servers and PostgreSQL restarted
// under running jobs. The servers here run with short intervals
// (heartbeat 1 s, dead after 4 s, reaper every 500 ms) so that a death is
// noticed in seconds; the failover benchmark (bench/failover) measures the
// defaults.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	moby "github.com/moby/moby/client"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testdb"
	"github.com/rgrid/rgrid/internal/testimages"
)

// The servers' liveness settings in these tests.
const (
	liveHeartbeat = time.Second
	liveDeadAfter = 4 * time.Second
	liveReap      = 500 * time.Millisecond
)

// countPy prints "line 1" … "line N" (argv[1]), sleeping argv[2] seconds
// after each line.
const countPy = `import sys, time
n, pause = int(sys.argv[1]), float(sys.argv[2])
for i in range(1, n + 1):
    print("line", i, flush=True)
    time.sleep(pause)
`

// countSh is countPy for the process executor.
const countSh = `for i in $(seq 1 "$1"); do echo "line $i"; sleep "$2"; done
`

// countOutput is what countPy and countSh print for n.
func countOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// liveGrid is a server with short liveness intervals on a database of the
// test's own; the test adds workers, kills and restarts them.
type liveGrid struct {
	*grid
	server *proc
	db     string
	args   []string // the server's extra flags
	docker bool
}

type liveOptions struct {
	db     string   // default: a fresh database on the shared cluster
	docker bool     // workers use Docker with python3.11 on the test image
	server []string // extra server flags; they override the short defaults
}

func newLiveGrid(t *testing.T, o liveOptions) *liveGrid {
	t.Helper()
	var extra []string
	if o.docker {
		img := testimages.Python(t)
		cfg := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, "[[runtimes]]\nname = \"python3.11\"\nimage = %q\n", img), 0o600); err != nil {
			t.Fatal(err)
		}
		extra = append(extra, "RGRID_CONFIG="+cfg)
	}
	env := isolatedEnv(t, extra...)
	if o.db == "" {
		o.db = testdb.PostgresURL(t)
	}
	args := append([]string{"--heartbeat-interval", liveHeartbeat.String(), "--dead-after", liveDeadAfter.String(),
		"--reap-interval", liveReap.String()}, o.server...)
	srv, url := startServer(t, env, o.db, args...)
	return &liveGrid{grid: &grid{env: env, url: url, c: newClient(t, url)}, server: srv, db: o.db, args: args, docker: o.docker}
}

// workerID makes a worker id unique to the test: a starting Docker worker
// removes every container labelled with its id.
func workerID(t *testing.T, name string) string {
	return "lv-" + strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) + "-" + name
}

// worker starts a worker with the grid's executor against url (the
// server's, or a proxy's) and waits until it has registered. A Docker
// worker's containers are removed when the test ends, also those of a
// worker the test killed.
func (g *liveGrid) worker(t *testing.T, id, url string, slots int, extra ...string) *proc {
	t.Helper()
	ex := "process"
	if g.docker {
		ex = "docker"
		t.Cleanup(func() { removeContainers(t, "rgrid.worker="+id) })
	}
	return startWorker(t, g.env, url, id, slots, append([]string{"--executor", ex}, extra...)...)
}

func (g *liveGrid) submit(t *testing.T, file, script string, args ...string) string {
	t.Helper()
	j, err := g.c.Submit(t.Context(), client.SubmitRequest{FileName: file, Script: []byte(script), Args: args})
	if err != nil {
		t.Fatalf("submit %s: %v", file, err)
	}
	return j.ID
}

// status is "rgrid status JOB --json".
func (g *liveGrid) status(t *testing.T, id string) client.Job {
	t.Helper()
	r := g.rgrid(t, "status", id, "--json")
	var j client.Job
	if err := json.Unmarshal([]byte(r.stdout), &j); r.code != 0 || err != nil {
		t.Fatalf("rgrid status %s --json: code %d, %v\n%s%s", id, r.code, err, r.stdout, r.stderr)
	}
	return j
}

// waitOutput waits until the job has printed want on stdout.
func (g *liveGrid) waitOutput(t *testing.T, id, want string, within time.Duration) {
	t.Helper()
	waitFor(t, within, fmt.Sprintf("job %s to print %q", id, want), func() bool {
		return strings.Contains(stdoutOf(t, g.c, id, 0), want)
	})
}

// stdoutOf reads a job's whole stdout, of one attempt or (0) of all.
func stdoutOf(t *testing.T, c *client.Client, id string, attempt int) string {
	t.Helper()
	var out bytes.Buffer
	var after int64
	for {
		page, err := c.Logs(t.Context(), id, client.LogOptions{Streams: []client.Stream{client.Stdout}, After: after})
		if err != nil {
			t.Fatalf("logs of %s: %v", id, err)
		}
		if len(page.Chunks) == 0 {
			return out.String()
		}
		for _, ch := range page.Chunks {
			if attempt == 0 || ch.Attempt == attempt {
				out.Write(ch.Data)
			}
		}
		after = page.Next
	}
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func (g *liveGrid) job(t *testing.T, id string) client.Job {
	t.Helper()
	j, err := g.c.Job(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j
}

// waitRunningOn waits until the job's current attempt runs on the worker
// and has printed its first line.
func (g *liveGrid) waitRunningOn(t *testing.T, id, workerID string, attempt int) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("job %s attempt %d running on %s", id, attempt, workerID), func() bool {
		j := g.job(t, id)
		return j.State == client.StateRunning && j.Attempt == attempt && j.WorkerID == workerID
	})
	waitFor(t, 30*time.Second, fmt.Sprintf("output of job %s attempt %d", id, attempt), func() bool {
		return strings.Contains(stdoutOf(t, g.c, id, attempt), "line 1\n")
	})
}

// kill9 kills a process and everything in its process group at once.
func kill9(t *testing.T, p *proc) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	waitExit(t, p, 10*time.Second)
}

// waitExit waits for a process to exit and returns its exit code.
func waitExit(t *testing.T, p *proc, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("process %d still running after %s:\n%s", p.cmd.Process.Pid, within, p.output())
		return 0
	}
}

func dockerAPI(t *testing.T) *moby.Client {
	t.Helper()
	cli, err := moby.New(moby.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// containers lists containers, running or not, carrying all the labels
// ("key=value").
func containers(t *testing.T, labels ...string) []container.Summary {
	t.Helper()
	f := make(moby.Filters)
	for _, l := range labels {
		f.Add("label", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := dockerAPI(t).ContainerList(ctx, moby.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers %v: %v", labels, err)
	}
	return res.Items
}

// removeContainers removes what a killed worker left behind.
func removeContainers(t *testing.T, labels ...string) {
	cli := dockerAPI(t)
	for _, c := range containers(t, labels...) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, _ = cli.ContainerRemove(ctx, c.ID, moby.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
	}
}

// attemptsSummary formats attempts for failure messages.
func attemptsSummary(as []client.Attempt) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "\n  #%d on %s: %s (%s) %q", a.Number, a.WorkerID, a.State, a.Reason, a.Message)
	}
	return b.String()
}

var stoppedRespondingRe = regexp.MustCompile(`^worker (\S+) stopped responding: last heard from at \d\d:\d\d:\d\d UTC, \d+s before it was declared dead$`)

// checkLostTo checks an attempt (or job) message says which worker
// stopped responding and when it was last heard from.
func checkLostTo(t *testing.T, what, msg, workerID string) {
	t.Helper()
	m := stoppedRespondingRe.FindStringSubmatch(msg)
	if m == nil || m[1] != workerID {
		t.Errorf("%s message %q, want \"worker %s stopped responding: last heard from at HH:MM:SS UTC, Ns before it was declared dead\"",
			what, msg, workerID)
	}
}

// kill -9 a worker during a job: the job is queued again within the
// dead-after interval plus one reaper scan, and finishes on the other
// worker; its status shows both attempts.
func TestLivenessKilledWorkerJobRunsElsewhere(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{docker: true})
	a, b := workerID(t, "a"), workerID(t, "b")
	pa := g.worker(t, a, g.url, 1)
	id := g.submit(t, "count.py", countPy, "8", "0.5")
	g.waitRunningOn(t, id, a, 1)
	g.worker(t, b, g.url, 1) // only now, so that the job went to a

	kill9(t, pa)
	killed := time.Now()
	// The last heartbeat was at most one interval before the kill.
	limit := liveDeadAfter + liveReap + 3*time.Second
	took := waitFor(t, limit, "the killed worker's attempt to end lost", func() bool {
		j := g.job(t, id)
		return len(j.Attempts) > 0 && j.Attempts[0].State == client.StateLost
	})
	t.Logf("attempt 1 ended lost %s after kill -9 (dead-after %s, reaper every %s)", took.Round(10*time.Millisecond), liveDeadAfter, liveReap)
	g.waitRunningOn(t, id, b, 2)
	t.Logf("running again on %s %s after kill -9", b, time.Since(killed).Round(10*time.Millisecond))

	waitTerminal(t, g.c, []string{id}, 60*time.Second)
	j := g.status(t, id)
	if j.State != client.StateSucceeded || len(j.Attempts) != 2 || j.WorkerID != b {
		t.Fatalf("job %s on %s, want succeeded on %s after 2 attempts; attempts:%s", j.State, j.WorkerID, b, attemptsSummary(j.Attempts))
	}
	first, second := j.Attempts[0], j.Attempts[1]
	if first.Number != 1 || first.WorkerID != a || first.State != client.StateLost || first.Reason != "worker_lost" {
		t.Errorf("attempt 1: %+v, want lost (worker_lost) on %s", first, a)
	}
	checkLostTo(t, "attempt 1", first.Message, a)
	if second.Number != 2 || second.WorkerID != b || second.State != client.StateSucceeded {
		t.Errorf("attempt 2: %+v, want succeeded on %s", second, b)
	}
	if got := stdoutOf(t, g.c, id, 2); got != countOutput(8) {
		t.Errorf("attempt 2 printed %q, want %q", got, countOutput(8))
	}
}

// With no attempts left, a job whose worker died ends lost, naming the
// worker and when it was last heard from.
func TestLivenessKilledWorkerNoAttemptsLeft(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{docker: true, server: []string{"--max-attempts", "1"}})
	a := workerID(t, "a")
	pa := g.worker(t, a, g.url, 1)
	id := g.submit(t, "count.py", countPy, "60", "0.5")
	g.waitRunningOn(t, id, a, 1)
	kill9(t, pa)
	j := waitTerminal(t, g.c, []string{id}, liveDeadAfter+liveReap+5*time.Second)[id]
	if j.State != client.StateLost {
		t.Fatalf("job ended %s, want lost; attempts:%s", j.State, attemptsSummary(j.Attempts))
	}
	checkLostTo(t, "job", j.Message, a)
	s := g.status(t, id)
	if len(s.Attempts) != 1 || s.Attempts[0].State != client.StateLost {
		t.Errorf("attempts:%s\nwant one, lost", attemptsSummary(s.Attempts))
	}
	if r := g.rgrid(t, "status", id); !strings.Contains(r.stdout, "stopped responding") {
		t.Errorf("rgrid status does not say the worker stopped responding:\n%s", r.stdout)
	}
}

// kill -9 only the worker agent while its container runs and start it
// again within the dead-after interval: it adopts the container, and the
// job finishes once, with every line of its output exactly once.
func TestLivenessRestartedAgentAdoptsContainer(t *testing.T) {
	t.Parallel()
	// Dead after 10 s: room for a restart on a busy machine.
	g := newLiveGrid(t, liveOptions{docker: true, server: []string{"--dead-after", "10s"}})
	a := workerID(t, "a")
	pa := g.worker(t, a, g.url, 1)
	const lines = 24
	id := g.submit(t, "count.py", countPy, fmt.Sprint(lines), "0.4")
	g.waitRunningOn(t, id, a, 1)
	g.waitOutput(t, id, "line 3\n", 20*time.Second)
	before := containers(t, "rgrid.job="+id)
	if len(before) != 1 {
		t.Fatalf("%d containers for job %s, want 1", len(before), id)
	}

	kill9(t, pa)
	// The script goes on printing while nothing reads its output.
	time.Sleep(1500 * time.Millisecond)
	pa2 := g.worker(t, a, g.url, 1)
	if now := containers(t, "rgrid.job="+id); len(now) != 1 || now[0].ID != before[0].ID {
		t.Errorf("after the restart: containers %v, want only %s", containerIDs(now), before[0].ID[:12])
	}

	j := waitTerminal(t, g.c, []string{id}, 60*time.Second)[id]
	s := g.status(t, id)
	if j.State != client.StateSucceeded || len(s.Attempts) != 1 || s.Attempts[0].WorkerID != a {
		t.Fatalf("job %s, want succeeded in one attempt on %s; attempts:%s", j.State, a, attemptsSummary(s.Attempts))
	}
	if got := stdoutOf(t, g.c, id, 0); got != countOutput(lines) {
		t.Errorf("stdout:\n%s\nwant every line once:\n%s", got, countOutput(lines))
	}
	if !strings.Contains(pa2.output(), "adopted a run left by an earlier start") {
		t.Errorf("the restarted worker did not say it adopted the run:\n%s", pa2.output())
	}
}

func containerIDs(cs []container.Summary) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID[:12])
	}
	return ids
}

// A worker cut off from the server for longer than the dead-after
// interval: its job reruns on another worker, its late reports are
// refused, its container is killed, one result is recorded.
func TestLivenessCutOffWorker(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{docker: true})
	px := newProxy(t, strings.TrimPrefix(g.url, "http://"))
	a, b := workerID(t, "a"), workerID(t, "b")
	pa := g.worker(t, a, px.url(), 1)
	const lines = 16
	id := g.submit(t, "count.py", countPy, fmt.Sprint(lines), "0.5")
	g.waitRunningOn(t, id, a, 1)
	g.worker(t, b, g.url, 1)

	px.cut()
	cut := time.Now()
	took := waitFor(t, liveDeadAfter+liveReap+3*time.Second, "the cut-off worker's attempt to end lost", func() bool {
		j := g.job(t, id)
		return len(j.Attempts) > 0 && j.Attempts[0].State == client.StateLost
	})
	t.Logf("attempt 1 ended lost %s after the cut", took.Round(10*time.Millisecond))
	g.waitRunningOn(t, id, b, 2)
	// Past the interval the worker itself gives the job up; then let it
	// reach the server again with whatever it still has to say.
	time.Sleep(time.Until(cut.Add(liveDeadAfter + 2*liveHeartbeat)))
	px.restore()

	// The server refuses anything more about attempt 1.
	ref := client.AttemptRef{JobID: id, Attempt: 1}
	zero := 0
	if _, err := g.c.ReportResult(t.Context(), ref, client.ResultReport{State: client.StateSucceeded, ExitCode: &zero}); !isStale(err) {
		t.Errorf("result for attempt 1 after it was lost: err %v, want 409 %s", err, client.CodeStaleAttempt)
	}
	if _, err := g.c.UploadLogs(t.Context(), ref, []client.LogChunk{{Attempt: 1, Stream: client.Stdout, Seq: 1000, Data: []byte("late\n")}}); !isStale(err) {
		t.Errorf("logs for attempt 1 after it was lost: err %v, want 409 %s", err, client.CodeStaleAttempt)
	}

	j := waitTerminal(t, g.c, []string{id}, 60*time.Second)[id]
	s := g.status(t, id)
	if j.State != client.StateSucceeded || j.WorkerID != b || len(s.Attempts) != 2 {
		t.Fatalf("job %s on %s, want succeeded on %s after 2 attempts; attempts:%s", j.State, j.WorkerID, b, attemptsSummary(s.Attempts))
	}
	if at := s.Attempts[0]; at.WorkerID != a || at.State != client.StateLost {
		t.Errorf("attempt 1: %+v, want lost on %s", at, a)
	}
	checkLostTo(t, "attempt 1", s.Attempts[0].Message, a)
	if at := s.Attempts[1]; at.WorkerID != b || at.State != client.StateSucceeded {
		t.Errorf("attempt 2: %+v, want succeeded on %s", at, b)
	}
	if got := stdoutOf(t, g.c, id, 2); got != countOutput(lines) {
		t.Errorf("attempt 2 printed %q, want %q", got, countOutput(lines))
	}
	if got := stdoutOf(t, g.c, id, 1); !strings.HasPrefix(countOutput(lines), got) {
		t.Errorf("attempt 1's stored output %q is not a prefix of the script's output", got)
	}

	// Whatever the cut-off worker still ran for attempt 1 is gone.
	waitFor(t, 20*time.Second, "the cut-off worker's container to be removed", func() bool {
		return len(containers(t, "rgrid.job="+id, "rgrid.attempt=1")) == 0
	})
	// And the cut-off worker knows why.
	waitFor(t, 20*time.Second, "the cut-off worker to give attempt 1 up", func() bool {
		out := pa.output()
		return strings.Contains(out, "has not acknowledged this worker") || strings.Contains(out, "no longer accepts this attempt")
	})
	t.Logf("worker %s after the cut:\n%s", a, grepLines(pa.output(), id))
}

func isStale(err error) bool {
	var ae *client.Error
	return errors.As(err, &ae) && ae.Status == 409 && ae.Code == client.CodeStaleAttempt
}

func grepLines(s, substr string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// proxy forwards TCP connections to a server until cut: then it closes
// every connection and drops new ones at once, until restored.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.forward(c) })
		}
	})
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) forward(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer p.untrack(c)
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done // either side ending ends both
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// cut closes every forwarded connection and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
