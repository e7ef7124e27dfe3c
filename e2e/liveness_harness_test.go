package e2e

// Liveness end to end: workers killed with SIGKILL, restarted, cut off from
// the server by a proxy the test controls, servers and PostgreSQL restarted
// under running jobs. The servers here run with short intervals
// (heartbeat 1 s, dead after 4 s, reaper every 500 ms) so that a death is
// noticed in seconds; the failover benchmark (bench/failover) measures the
// defaults. This file holds what those tests share.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
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
		extra = append(extra, "RGRID_CONFIG="+pythonConfig(t))
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

// pythonConfig writes a config file that runs python3.11 on the local test
// image and returns its path.
func pythonConfig(t *testing.T) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[[runtimes]]\nname = \"python3.11\"\nimage = %q\n", testimages.Python(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
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
	return getJob(t, g.c, id)
}

func getJob(t *testing.T, c *client.Client, id string) client.Job {
	t.Helper()
	j, err := c.Job(t.Context(), id)
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

// containerFinishedAt is when the engine says container id stopped.
func containerFinishedAt(t *testing.T, id string) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := dockerAPI(t).ContainerInspect(ctx, id, moby.ContainerInspectOptions{})
	if err != nil || res.Container.State == nil {
		return time.Time{} // removed meanwhile
	}
	at, err := time.Parse(time.RFC3339Nano, res.Container.State.FinishedAt)
	if err != nil {
		t.Fatalf("container %s finished at %q: %v", id, res.Container.State.FinishedAt, err)
	}
	return at
}

// containerStdoutLines counts the lines container id has printed to
// stdout, as the engine's log has them.
func containerStdoutLines(t *testing.T, id string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A container with rgrid's own init has its output in the spool of its
	// run directory's control directory, not in the engine's log.
	insp, err := dockerAPI(t).ContainerInspect(ctx, id, moby.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect container %s: %v", id, err)
	}
	if labels := insp.Container.Config.Labels; labels["rgrid.init"] != "" {
		b, err := os.ReadFile(filepath.Join(labels["rgrid.dir"], "ctl", "stdout"))
		if err != nil {
			t.Fatalf("spool of container %s: %v", id, err)
		}
		return strings.Count(string(b), "\n")
	}
	logs, err := dockerAPI(t).ContainerLogs(ctx, id, moby.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatalf("logs of container %s: %v", id, err)
	}
	defer logs.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, io.Discard, logs); err != nil {
		t.Fatalf("logs of container %s: %v", id, err)
	}
	return strings.Count(out.String(), "\n")
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

func containerIDs(cs []container.Summary) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID[:12])
	}
	return ids
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
