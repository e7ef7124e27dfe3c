package node

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/runtimes"
)

// Every grid a test starts is stopped, and everything it started with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func table(t *testing.T) *runtimes.Table {
	t.Helper()
	rt, err := runtimes.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// hostOnly skips where the process executor does not run (it is Linux's).
func hostOnly(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the process executor runs jobs on Linux only")
	}
}

func waitEnded(t *testing.T, c *client.Client, id string) client.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := c.Job(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after 30 s", id, j.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An embedded grid runs a job on its worker, and Stop leaves nothing
// running (TestMain's leak check) and no worker registered.
func TestEmbeddedRunsAJob(t *testing.T) {
	hostOnly(t)
	dir := t.TempDir()
	g, err := StartEmbedded(t.Context(), EmbeddedConfig{DataDir: dir, Runtimes: table(t),
		Worker: &EmbeddedWorker{Executor: "process", Defaults: Limits{Timeout: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Client()
	job, err := c.Submit(t.Context(), client.SubmitRequest{Script: []byte("echo hi\n"), FileName: "hi.sh"})
	if err != nil {
		t.Fatal(err)
	}
	if j := waitEnded(t, c, job.ID); j.State != client.StateSucceeded {
		t.Fatalf("job ended %s: %s", j.State, j.Message)
	}
	g.Stop()
	g.Stop() // twice: nothing

	// Opened again, the data directory has the job and no worker.
	g, err = StartEmbedded(t.Context(), EmbeddedConfig{DataDir: dir, Runtimes: table(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	ws, err := g.Client().Workers(t.Context())
	if err != nil || len(ws) != 0 {
		t.Errorf("workers after the run: %+v %v, want none", ws, err)
	}
	if j, err := g.Client().Job(t.Context(), job.ID); err != nil || j.State != client.StateSucceeded {
		t.Errorf("the job after reopening: %+v %v", j, err)
	}
}

// The next embedded run settles the job of one that was killed: once its
// worker is silent for the dead-after, the job ends lost saying why, and
// the worker's registration goes.
func TestEmbeddedSweepsGoneWorkers(t *testing.T) {
	dir := t.TempDir()
	g, err := StartEmbedded(t.Context(), EmbeddedConfig{DataDir: dir, Runtimes: table(t)})
	if err != nil {
		t.Fatal(err)
	}
	// A worker of an rgrid run that then died with its job leased.
	c := g.Client()
	job, err := c.Submit(t.Context(), client.SubmitRequest{Script: []byte("sleep 60\n"), FileName: "slow.sh"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(t.Context(), client.RegisterRequest{ID: "embedded-dead", Name: embeddedName, Slots: 1}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Lease(t.Context(), "embedded-dead", client.LeaseRequest{Max: 1}); err != nil || len(l.Jobs) != 1 {
		t.Fatalf("lease: %+v %v", l, err)
	}
	g.Stop()

	// Within the dead-after, nothing is swept: that run may be alive.
	g, err = StartEmbedded(t.Context(), EmbeddedConfig{DataDir: dir, Runtimes: table(t),
		Worker: &EmbeddedWorker{Executor: "process"}})
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := g.Client().Job(t.Context(), job.ID); j.State != client.StateLeased {
		t.Fatalf("swept within the dead-after: %s", j.State)
	}
	g.Stop()

	later := func() time.Time { return time.Now().Add(time.Minute) }
	g, err = StartEmbedded(t.Context(), EmbeddedConfig{DataDir: dir, Runtimes: table(t), Server: ServerOptions{Now: later},
		Worker: &EmbeddedWorker{Executor: "process"}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	j, err := g.Client().Job(t.Context(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != client.StateLost || !strings.Contains(j.Message, "the rgrid run that ran it (worker embedded-dead) was killed before the job ended") {
		t.Errorf("job after the sweep: %s %q", j.State, j.Message)
	}
	ws, _ := g.Client().Workers(t.Context())
	for _, w := range ws {
		if w.ID == "embedded-dead" {
			t.Errorf("the gone worker is still registered: %+v", w)
		}
	}
}

// rgrid dev serves until its context ends, says where in the data
// directory, refuses a second one there, and cleans up after itself.
func TestRunDev(t *testing.T) {
	hostOnly(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := DevConfig{DataDir: dir, Listen: "127.0.0.1:0", Slots: 1, Runtimes: table(t),
		Worker: EmbeddedWorker{Executor: "process", Defaults: Limits{Timeout: time.Minute}}}
	go func() { done <- RunDev(ctx, cfg, func(url, _ string) { ready <- url }) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("RunDev returned at once: %v", err)
	}
	if got := DevURL(t.Context(), dir); got != url {
		t.Errorf("DevURL = %q, want %q", got, url)
	}
	err := RunDev(t.Context(), cfg, func(string, string) { t.Error("a second rgrid dev started") })
	if ne, ok := err.(*Error); !ok || !ne.Usage || !strings.Contains(ne.Message, "rgrid dev is already running at "+url) {
		t.Errorf("second RunDev: %v", err)
	}
	c, err := client.New(url, "")
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.Submit(t.Context(), client.SubmitRequest{Script: []byte("echo dev\n"), FileName: "dev.sh"})
	if err != nil {
		t.Fatal(err)
	}
	if j := waitEnded(t, c, job.ID); j.State != client.StateSucceeded {
		t.Fatalf("job ended %s: %s", j.State, j.Message)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunDev after its context ended: %v", err)
	}
	if _, err := os.Stat(DevStatePath(dir)); !os.IsNotExist(err) {
		t.Errorf("dev state left behind: %v", err)
	}
}
