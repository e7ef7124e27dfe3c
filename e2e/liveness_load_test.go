package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// 1000 quick jobs, submitted concurrently, across 4 workers with 4 slots
// each: every job ran exactly once and succeeded. Not parallel: it loads
// the machine, and the timing tests run after it.
func TestLivenessThousandJobsOnce(t *testing.T) {
	g := newLiveGrid(t, liveOptions{server: []string{"--dead-after", "5s"}})
	for i := range 4 {
		g.worker(t, workerID(t, fmt.Sprint(i+1)), g.url, 4)
	}
	const n = 1000
	ids := make([]string, n)
	start := time.Now()
	eachConcurrently(t, n, 32, func(i int) error {
		j, err := g.c.Submit(t.Context(), client.SubmitRequest{
			FileName: "quick.sh", Script: []byte("echo job-$1\n"), Args: []string{fmt.Sprint(i)},
		})
		ids[i] = j.ID
		return err
	})
	t.Logf("submitted %d jobs in %s", n, time.Since(start).Round(time.Millisecond))
	waitTerminal(t, g.c, ids, 150*time.Second)
	t.Logf("all %d ended %s after the first submission", n, time.Since(start).Round(time.Millisecond))

	var mu sync.Mutex
	perWorker := map[string]int{}
	eachConcurrently(t, n, 8, func(i int) error {
		j, err := g.c.Job(t.Context(), ids[i])
		if err != nil {
			return err
		}
		if j.State != client.StateSucceeded || len(j.Attempts) != 1 || j.Attempts[0].State != client.StateSucceeded {
			return fmt.Errorf("job %d (%s): %s, want succeeded in one attempt; attempts:%s", i, j.ID, j.State, attemptsSummary(j.Attempts))
		}
		if got, want := stdoutOf(t, g.c, ids[i], 0), fmt.Sprintf("job-%d\n", i); got != want {
			return fmt.Errorf("job %d printed %q, want %q", i, got, want)
		}
		mu.Lock()
		perWorker[j.Attempts[0].WorkerID]++
		mu.Unlock()
		return nil
	})
	t.Logf("jobs per worker: %v", perWorker)
}

// eachConcurrently calls f(0) … f(n-1) on at most width goroutines and
// fails the test with the first few errors.
func eachConcurrently(t *testing.T, n, width int, f func(i int) error) {
	t.Helper()
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range width {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	shown := 0
	for err := range errs {
		if shown++; shown <= 5 {
			t.Error(err)
		}
	}
	if shown > 0 {
		t.Fatalf("%d of %d failed", shown, n)
	}
}

// SIGTERM during a job: the worker drains (shown as such), takes no new
// job, lets the running one finish without a second attempt, and exits 0.
func TestLivenessDrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	a := workerID(t, "a")
	pa := g.worker(t, a, g.url, 2)
	const lines = 16
	id := g.submit(t, "count.sh", countSh, fmt.Sprint(lines), "0.4")
	g.waitRunningOn(t, id, a, 1)

	// The worker alone: its process group holds the job's processes.
	if err := syscall.Kill(pa.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "rgrid workers --json to show the worker draining", func() bool {
		r := g.rgrid(t, "workers", "--json")
		var ws []client.Worker
		if err := json.Unmarshal([]byte(r.stdout), &ws); err != nil {
			t.Fatalf("rgrid workers --json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		for _, w := range ws {
			if w.ID == a {
				return w.State == "draining"
			}
		}
		return false
	})
	// A job submitted now waits: a draining worker takes nothing new,
	// although it has a free slot.
	later := g.submit(t, "later.sh", "echo later\n")

	j := waitTerminal(t, g.c, []string{id}, 30*time.Second)[id]
	if j.State != client.StateSucceeded || len(j.Attempts) != 1 {
		t.Errorf("job %s, want succeeded in one attempt; attempts:%s", j.State, attemptsSummary(j.Attempts))
	}
	if got := stdoutOf(t, g.c, id, 0); got != countOutput(lines) {
		t.Errorf("printed %q, want %q", got, countOutput(lines))
	}
	if code := waitExit(t, pa, 20*time.Second); code != 0 {
		t.Errorf("worker exited %d after draining, want 0:\n%s", code, pa.output())
	}
	if l := g.job(t, later); l.State != client.StateQueued || len(l.Attempts) != 0 {
		t.Errorf("job submitted while draining: %s with attempts:%s; want queued, never leased", l.State, attemptsSummary(l.Attempts))
	}
	// Still exactly one attempt once the worker is gone.
	if s := g.status(t, id); len(s.Attempts) != 1 {
		t.Errorf("after the worker exited: attempts:%s", attemptsSummary(s.Attempts))
	}
}

// A script's own failure is retried only when asked: with --retries 2 it
// runs three times and ends failed; without, once.
func TestLivenessScriptFailureRetries(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{})
	g.worker(t, workerID(t, "a"), g.url, 2)
	script := writeScript(t, "fail.sh", "echo try\nexit 3\n")
	for _, tc := range []struct {
		args     []string
		attempts int
	}{
		{[]string{"run", "--detach", "--retries", "2", script}, 3},
		{[]string{"run", "--detach", script}, 1},
	} {
		r := g.rgrid(t, tc.args...)
		if r.code != 0 {
			t.Fatalf("rgrid %v: %d %s", tc.args, r.code, r.stderr)
		}
		id := strings.TrimSpace(r.stdout)
		waitTerminal(t, g.c, []string{id}, 60*time.Second)
		j := g.status(t, id)
		if j.State != client.StateFailed || j.ExitCode == nil || *j.ExitCode != 3 || len(j.Attempts) != tc.attempts {
			t.Errorf("rgrid %v: job %s, want failed with code 3 after %d attempts; attempts:%s", tc.args, j.State, tc.attempts, attemptsSummary(j.Attempts))
			continue
		}
		for i, a := range j.Attempts {
			if a.Number != i+1 || a.State != client.StateFailed || a.ExitCode == nil || *a.ExitCode != 3 {
				t.Errorf("rgrid %v: attempt %d: %+v, want failed with code 3", tc.args, i+1, a)
			}
		}
	}
}
