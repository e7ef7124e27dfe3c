package e2e

// Worker identity: a worker id belongs to one running process. A second
// rgrid worker on the same data directory is refused at start; one on
// another data directory with the same id (a cloned machine) is refused by
// the server; a process whose id another took over while it was cut off
// stops. Before this, two processes on one id each heartbeat only their
// own attempts, and the server took the other's back as "no longer runs
// this attempt" until every long job ended lost.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// dataDirOf is the data directory env gives rgrid.
func dataDirOf(env []string) string {
	for _, kv := range slices.Backward(env) {
		if v, ok := strings.CutPrefix(kv, "RGRID_DATA_DIR="); ok {
			return v
		}
	}
	return ""
}

// withDataDir is env with another data directory.
func withDataDir(env []string, dir string) []string {
	return append(slices.Clone(env), "RGRID_DATA_DIR="+dir)
}

// startNamedWorker starts "rgrid worker --name NAME" with args and waits
// until the server lists a worker of that name as active (its id), or the
// process exits (refused: its exit code). The name only tells the workers
// apart here; it is no part of a worker's identity.
func startNamedWorker(t *testing.T, env []string, url, name string, args ...string) (p *proc, id string, code int) {
	t.Helper()
	p = start(t, env, append([]string{"worker", "--server", url, "--name", name}, args...)...)
	err := p.awaitReady(func() bool {
		id = activeNamed(url, name)
		return id != ""
	})
	switch {
	case err == nil:
		return p, id, 0
	case errors.Is(err, errExited):
		return p, "", p.cmd.ProcessState.ExitCode()
	}
	t.Fatalf("worker %s: %v:\n%s", name, err, p.output())
	return nil, "", 0
}

// activeNamed is the id of the active worker named name at url, if any.
func activeNamed(url, name string) string {
	c, err := client.New(url, "")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ws, _ := c.Workers(ctx)
	for _, w := range ws {
		if w.Name == name && w.State == "active" {
			return w.ID
		}
	}
	return ""
}

// defaultWorkerArgs are "rgrid worker" flags with default settings but the
// executor and slots.
func defaultWorkerArgs(slots int) []string {
	return []string{"--executor", "process", "--slots", fmt.Sprint(slots)}
}

// Two rgrid worker processes with default settings on one data directory:
// the second is refused at start, naming the first one's pid and the fix.
func TestWorkerIDSecondProcessOnADataDirIsRefused(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	first, id, _ := startNamedWorker(t, g.env, g.url, "first", defaultWorkerArgs(1)...)
	if id == "" {
		t.Fatalf("the first worker did not start:\n%s", first.output())
	}
	second, _, code := startNamedWorker(t, g.env, g.url, "second", defaultWorkerArgs(1)...)
	want := fmt.Sprintf("Error: worker %s is already running in this data directory (pid %d)\n", id, first.cmd.Process.Pid)
	hint := "Hint: give this one its own identity: --worker-id NAME or RGRID_DATA_DIR=DIR"
	if code == 0 || !strings.Contains(second.output(), want) || !strings.Contains(second.output(), hint) {
		t.Fatalf("second worker: exit %d, output:\n%s\nwant a non-zero exit and\n%s%s", code, second.output(), want, hint)
	}
	ws, err := g.c.Workers(t.Context())
	if err != nil || len(ws) != 1 || ws[0].ID != id || ws[0].State != "active" {
		t.Fatalf("workers %+v (%v), want %s alone, active", ws, err, id)
	}
	select {
	case <-first.done:
		t.Fatalf("the first worker exited:\n%s", first.output())
	default:
	}
}

var inUseRe = regexp.MustCompile(`(?m)^Error: worker id (\S+) belongs to another worker process, on (\S+), last heard from \d+s ago \(at \d\d:\d\d:\d\d UTC\)\nHint: give each worker its own --worker-id; cloned machines must not share a data directory's worker-id file$`)

// checkInUse checks that a worker was refused by the server because id
// belongs to the process on host.
func checkInUse(t *testing.T, what string, p *proc, code int, id string) {
	t.Helper()
	host, _ := os.Hostname()
	m := inUseRe.FindStringSubmatch(p.output())
	if code == 0 || m == nil || m[1] != id || m[2] != host {
		t.Errorf("%s: exit %d, output:\n%s\nwant a non-zero exit and \"Error: worker id %s belongs to another worker process, on %s, …\" with the hint",
			what, code, p.output(), id, host)
	}
}

// Machines cloned from one image share the worker id file. The server
// refuses the second one while the first lives, whether the id was given
// (--worker-id) or kept in a copied data directory.
func TestWorkerIDClonedMachineIsRefused(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	id := workerID(t, "cloned")
	g.worker(t, id, g.url, 1)
	clone := withDataDir(g.env, t.TempDir())
	p, _, code := startNamedWorker(t, clone, g.url, "clone", append(defaultWorkerArgs(1), "--worker-id", id)...)
	checkInUse(t, "the same --worker-id on another data directory", p, code, id)

	// A copy of a data directory a default worker runs on, lock file
	// and all, as a cloned image has it.
	orig, kept, _ := startNamedWorker(t, g.env, g.url, "original", defaultWorkerArgs(1)...)
	if kept == "" {
		t.Fatalf("the default worker did not start:\n%s", orig.output())
	}
	copied := filepath.Join(t.TempDir(), "data")
	if out, err := exec.Command("cp", "-a", dataDirOf(g.env), copied).CombinedOutput(); err != nil {
		t.Fatalf("copy the data directory: %v\n%s", err, out)
	}
	p, _, code = startNamedWorker(t, withDataDir(g.env, copied), g.url, "copy", defaultWorkerArgs(1)...)
	checkInUse(t, "a worker on a copy of the data directory", p, code, kept)

	ws, err := g.c.Workers(t.Context())
	if err != nil || len(ws) != 2 {
		t.Fatalf("workers %+v (%v), want the two originals", ws, err)
	}
}

// The scenario: a second worker started beside the first with
// default settings. Refused, it is started again as the hint says, on its
// own data directory; either way every long job must succeed at its first
// attempt. (Without the fix the second ran on the first one's id, each
// heartbeat took the other's attempts back, and every job ended lost.)
func TestWorkersOnOneMachineRunLongJobsOnce(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	_, a, _ := startNamedWorker(t, g.env, g.url, "first", defaultWorkerArgs(2)...)
	if a == "" {
		t.Fatal("the first worker did not start")
	}
	p, b, code := startNamedWorker(t, g.env, g.url, "second", defaultWorkerArgs(2)...)
	if b == "" {
		if code == 0 || !strings.Contains(p.output(), "is already running in this data directory") {
			t.Fatalf("second worker: exit %d, neither running nor refused as a second process:\n%s", code, p.output())
		}
		p, b, _ = startNamedWorker(t, withDataDir(g.env, t.TempDir()), g.url, "second-own", defaultWorkerArgs(2)...)
		if b == "" {
			t.Fatalf("the second worker on its own data directory did not start:\n%s", p.output())
		}
	}
	// Longer than the server's "no longer runs this attempt" cutoff
	// (2 heartbeats + 5 s = 7 s here; 15 s with the defaults).
	const lines = 10
	var ids []string
	for range 4 {
		ids = append(ids, g.submit(t, "long.sh", countSh, fmt.Sprint(lines), "1"))
	}
	ran := map[string]bool{}
	for id, j := range waitTerminal(t, g.c, ids, 2*time.Minute) {
		if j.State != client.StateSucceeded || len(j.Attempts) != 1 {
			t.Errorf("job %s ended %s after %d attempts, want succeeded at the first; attempts:%s",
				id, j.State, len(j.Attempts), attemptsSummary(j.Attempts))
			continue
		}
		ran[j.WorkerID] = true
		if got := stdoutOf(t, g.c, id, 1); got != countOutput(lines) {
			t.Errorf("job %s printed %q", id, got)
		}
	}
	if !t.Failed() && (len(ran) != 2 || a == b) {
		t.Errorf("jobs ran on %v; want both workers, each under its own id (%s, %s)", ran, a, b)
	}
}

// A worker cut off past the dead-after interval whose id another process
// took meanwhile stops when it is back, rather than lease beside it: the
// server refuses its heartbeats and leases, and registering again too while
// the other one lives.
func TestWorkerIDTakenOverWhileCutOffStops(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	id := workerID(t, "w")
	px := newProxy(t, strings.TrimPrefix(g.url, "http://"))
	old := g.worker(t, id, px.url(), 1)
	px.set(proxyBlackHole)
	waitFor(t, liveDeadAfter+10*time.Second, "the cut-off worker to be declared dead", func() bool {
		ws, err := g.c.Workers(t.Context())
		return err == nil && len(ws) == 1 && ws[0].State == "dead"
	})
	// Another machine takes the id over (here: another data directory).
	startWorker(t, withDataDir(g.env, t.TempDir()), g.url, id, 1, "--executor", "process", "--name", "successor")
	px.set(proxyUp)
	code := waitExit(t, old, 30*time.Second)
	if code == 0 || !strings.Contains(old.output(), "Error: worker id "+id+" belongs to another worker process") {
		t.Fatalf("the cut-off worker exited %d, want non-zero naming the new holder:\n%s", code, old.output())
	}
	ws, err := g.c.Workers(t.Context())
	if err != nil || len(ws) != 1 || ws[0].Name != "successor" || ws[0].State != "active" {
		t.Fatalf("workers %+v (%v), want the successor alone, active", ws, err)
	}
	j := waitTerminal(t, g.c, []string{g.submit(t, "count.sh", countSh, "2", "0")}, time.Minute)
	for _, job := range j {
		if job.State != client.StateSucceeded || job.WorkerID != id {
			t.Errorf("job after the takeover: %s on %s", job.State, job.WorkerID)
		}
	}
}

// If the process that took the id over is gone too by the time the cut-off
// worker is back, the id is free: the worker registers again and works on.
func TestWorkerIDCutOffWorkerTakesBackAFreedID(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	id := workerID(t, "w")
	px := newProxy(t, strings.TrimPrefix(g.url, "http://"))
	old := g.worker(t, id, px.url(), 1)
	px.set(proxyBlackHole)
	dead := func() bool {
		ws, err := g.c.Workers(t.Context())
		return err == nil && len(ws) == 1 && ws[0].State == "dead"
	}
	waitFor(t, liveDeadAfter+10*time.Second, "the cut-off worker to be declared dead", dead)
	successor := startWorker(t, withDataDir(g.env, t.TempDir()), g.url, id, 1, "--executor", "process", "--name", "successor")
	kill9(t, successor)
	waitFor(t, liveDeadAfter+10*time.Second, "the successor to be declared dead", dead)
	px.set(proxyUp)
	j := waitTerminal(t, g.c, []string{g.submit(t, "count.sh", countSh, "2", "0")}, time.Minute)
	for _, job := range j {
		if job.State != client.StateSucceeded || job.WorkerID != id {
			t.Errorf("job after the successor died: %s on %s", job.State, job.WorkerID)
		}
	}
	select {
	case <-old.done:
		t.Fatalf("the cut-off worker exited:\n%s", old.output())
	default:
	}
	ws, err := g.c.Workers(t.Context())
	if err != nil || len(ws) != 1 || ws[0].Name == "successor" || ws[0].State != "active" {
		t.Fatalf("workers %+v (%v), want the cut-off worker back, active", ws, err)
	}
}
