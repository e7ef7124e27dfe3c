package docker_test

// A worker killed with SIGKILL while its containers run, restarted: the
// second Executor (same WorkerID and run directory root) finds the
// containers and adopts them.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/testimages"
)

// setupRecover is setup for a test that restarts its worker: whatever the
// test leaves of its worker's containers is removed at its end.
func setupRecover(t *testing.T) *testBundle {
	b := setup(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		_, _ = b.ex.RemoveOrphans(ctx, func(string, int) bool { return false })
	})
	return b
}

// restarted is the executor of the same worker after a restart.
func (b *testBundle) restarted(t *testing.T) *docker.Executor {
	t.Helper()
	if b.warm {
		// The worker died with its pool: the containers it leaves are
		// its runs'.
		docker.ClosePool(b.ex)
	}
	ex, err := docker.New(t.Context(), docker.Options{
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		WorkerID: b.worker,
		WorkDir:  b.workDir,
		InitPath: testInit(t),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	return ex
}

// startDying starts spec on the first executor with writers that stop
// recording once cut, as a worker's would when it is killed.
func (b *testBundle) startDying(t *testing.T, spec executor.Spec) (h executor.Handle, stdout, stderr *cutBuffer) {
	t.Helper()
	stdout, stderr = &cutBuffer{Buffer: executortest.NewBuffer()}, &cutBuffer{Buffer: executortest.NewBuffer()}
	spec.Stdout, spec.Stderr = stdout, stderr
	if b.warm {
		b.awaitWarm(t, spec)
	}
	h, err := b.ex.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if b.warm && !docker.RanWarm(h) {
		t.Fatal("the run did not start in a warm container")
	}
	return h, stdout, stderr
}

// die stops the first executor's run as SIGKILL would stop the worker.
func die(h executor.Handle, stdout, stderr *cutBuffer) {
	stdout.cut.Store(true)
	stderr.cut.Store(true)
	docker.Abandon(h)
}

// findOne asserts that ex finds exactly the one run of the test.
func findOne(t *testing.T, ex *docker.Executor, running bool) executor.Found {
	t.Helper()
	found, err := ex.Find(t.Context())
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	want := executor.Found{JobID: testID(t), Attempt: 1, Running: running}
	if len(found) != 1 || found[0] != want {
		t.Fatalf("Find = %+v, want [%+v]", found, want)
	}
	return found[0]
}

// adopt adopts f on ex, delivering to fresh buffers from the offsets on.
func adopt(t *testing.T, ex *docker.Executor, f executor.Found, limits executor.Limits, outOff, errOff int) *run {
	t.Helper()
	r := &run{stdout: executortest.NewBuffer(), stderr: executortest.NewBuffer(), began: time.Now()}
	spec := executor.Spec{Stdout: r.stdout, Stderr: r.stderr, Limits: limits}
	h, err := ex.Adopt(t.Context(), f, spec, int64(outOff), int64(errOff))
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	r.h = h
	return r
}

func TestAdoptRunningDeliversRestExactlyOnce(t *testing.T) {
	b := setupRecover(t)
	const lines = 60
	spec := b.helperSpec(t, "", func(s *executor.Spec) {
		s.Image, s.Command, s.FileName = testimages.Python(t), []string{"python3.11"}, "main.py"
		s.Script = fmt.Appendf(nil, `
import sys, time
for i in range(%d):
    print("out", i, flush=True)
    print("err", i, file=sys.stderr, flush=True)
    time.sleep(0.05)
sys.stdout.write("end")
`, lines)
	})
	var wantOut, wantErr strings.Builder
	for i := range lines {
		fmt.Fprintf(&wantOut, "out %d\n", i)
		fmt.Fprintf(&wantErr, "err %d\n", i)
	}
	wantOut.WriteString("end")

	h, aOut, aErr := b.startDying(t, spec)
	aOut.WaitFor(t, "out 10\n")
	die(h, aOut, aErr)
	// The worker is down for a while; the job goes on writing.
	time.Sleep(500 * time.Millisecond)
	gotA, gotAErr := aOut.String(), aErr.String()

	ex := b.restarted(t)
	f := findOne(t, ex, true)
	r := adopt(t, ex, f, spec.Limits, len(gotA), len(gotAErr))
	got := r.wait(t)
	got.wantExit(t, 0)
	if gotA+got.stdout != wantOut.String() {
		t.Errorf("stdout before the restart %q + after %q, want %q", gotA, got.stdout, wantOut.String())
	}
	if gotAErr+got.stderr != wantErr.String() {
		t.Errorf("stderr before the restart %q + after %q, want %q", gotAErr, got.stderr, wantErr.String())
	}
	if got.stdout == "" || got.res.Duration < 3*time.Second {
		t.Errorf("after the restart: stdout %q, duration %v; want the rest, and the whole run's duration", got.stdout, got.res.Duration)
	}
	assertNoLeftovers(t, b)
}

func TestAdoptExited(t *testing.T) {
	b := setupRecover(t)
	spec := b.helperSpec(t, "", func(s *executor.Spec) {
		s.Image, s.Command, s.FileName = testimages.Python(t), []string{"python3.11"}, "main.py"
		s.Script = []byte(`
import sys
print("line 1\nline 2")
print("oops", file=sys.stderr)
sys.stdout.write("partial")
sys.exit(3)
`)
	})
	h, aOut, aErr := b.startDying(t, spec)
	die(h, aOut, aErr) // at once: A delivered nothing, the offsets are the test's
	awaitStopped(t, b)

	ex := b.restarted(t)
	f := findOne(t, ex, false)
	r := adopt(t, ex, f, spec.Limits, 7, 2)
	got := r.wait(t)
	got.wantExit(t, 3)
	if got.stdout != "line 2\npartial" || got.stderr != "ps\n" {
		t.Errorf("got stdout %q, stderr %q; want what follows the offsets", got.stdout, got.stderr)
	}
	if got.res.Duration <= 0 || got.res.Duration > 10*time.Second {
		t.Errorf("duration %v: want the run's own, start to exit", got.res.Duration)
	}
	assertNoLeftovers(t, b)
}

func TestAdoptOOMKilledUsesContainerLimit(t *testing.T) {
	b := setupRecover(t)
	spec := b.helperSpec(t, "alloc 2048 256", func(s *executor.Spec) { s.Limits.MemoryBytes = 256 << 20 })
	h, aOut, aErr := b.startDying(t, spec)
	die(h, aOut, aErr)
	awaitStopped(t, b)

	ex := b.restarted(t)
	// The limit the container runs with counts, not what the caller says.
	got := adopt(t, ex, findOne(t, ex, false), executor.Limits{MemoryBytes: 1 << 30}, 0, 0).wait(t)
	if got.res.Outcome != executor.OOMKilled || got.res.Message != "exceeded its memory limit of 256 MiB" {
		t.Errorf("want OOM killed at 256 MiB, got %+v", got.res)
	}
	assertNoLeftovers(t, b)
}

func TestAdoptKeepsTimeLimit(t *testing.T) {
	// A limit counted from the adoption would end both a second or more late.
	for _, tc := range []struct {
		name               string
		timeout, adoptedAt time.Duration
	}{
		{"Ahead", 3 * time.Second, 2 * time.Second},
		{"AlreadyPast", 2 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setupRecover(t)
			spec := b.helperSpec(t, "sleep 600", func(s *executor.Spec) { s.Limits.Timeout = tc.timeout })
			began := time.Now()
			h, aOut, aErr := b.startDying(t, spec)
			aOut.WaitFor(t, "sleeping")
			die(h, aOut, aErr)
			time.Sleep(time.Until(began.Add(tc.adoptedAt))) // the worker is down

			ex := b.restarted(t)
			got := adopt(t, ex, findOne(t, ex, true), spec.Limits, len("sleeping\n"), 0).wait(t)
			elapsed := time.Since(began)
			if got.res.Outcome != executor.TimedOut || got.res.ExitCode != 137 {
				t.Fatalf("want timed out, got %+v", got.res)
			}
			if want := fmt.Sprintf("killed after %d s (the job's time limit)", tc.timeout/time.Second); got.res.Message != want {
				t.Errorf("message %q, want %q", got.res.Message, want)
			}
			// The run's duration is when it was killed, counted from its
			// start: a limit wrongly counted from the adoption would kill it
			// at adoptedAt+timeout (5 s here), 2 s past this bound. The end
			// of Wait also holds the clean-up, which a loaded machine slows:
			// its bound only says the kill was not forgotten.
			deadline := max(tc.timeout, tc.adoptedAt)
			if got.res.Duration < tc.timeout || got.res.Duration > deadline+1500*time.Millisecond || elapsed > deadline+10*time.Second {
				t.Errorf("duration %v, ended %v after start; want >= %v and soon after %v", got.res.Duration, elapsed, tc.timeout, deadline)
			}
			if got.stdout != "" {
				t.Errorf("output repeated: %q", got.stdout)
			}
			assertNoLeftovers(t, b)
		})
	}
}

func TestAdoptedKill(t *testing.T) {
	b := setupRecover(t)
	h, aOut, aErr := b.startDying(t, b.helperSpec(t, "sleep 600", nil))
	aOut.WaitFor(t, "sleeping")
	die(h, aOut, aErr)

	ex := b.restarted(t)
	r := adopt(t, ex, findOne(t, ex, true), executor.Limits{Timeout: waitBound / 2}, 0, 0)
	if err := r.h.Kill(t.Context()); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	got := r.wait(t)
	if got.res.Outcome != executor.Killed || got.stdout != "sleeping\n" {
		t.Errorf("want killed with all output from offset 0, got %+v, stdout %q", got.res, got.stdout)
	}
	assertNoLeftovers(t, b)
}

func TestFindOnlyOurs(t *testing.T) {
	b := setupRecover(t)
	cli := dockerClient(t)
	mk := func(worker string, labels map[string]string) {
		all := map[string]string{"rgrid.managed": "true", "rgrid.worker": worker}
		for k, v := range labels {
			all[k] = v
		}
		c, err := cli.ContainerCreate(t.Context(), client.ContainerCreateOptions{
			Config:     &container.Config{Image: b.helper, Cmd: []string{"/helper", "sleep", "600"}, Labels: all},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
		})
	}
	mk(b.worker, map[string]string{"rgrid.job": "ours", "rgrid.attempt": "2"})
	mk(b.worker, map[string]string{"rgrid.job": "ours-unreadable", "rgrid.attempt": "x"})
	mk(b.worker+"-other", map[string]string{"rgrid.job": "theirs", "rgrid.attempt": "1"})
	mk(b.worker, map[string]string{"rgrid.job": "unmanaged", "rgrid.attempt": "1", "rgrid.managed": "false"})

	found, err := b.ex.Find(t.Context())
	if want := []executor.Found{{JobID: "ours", Attempt: 2}}; err != nil || !slices.Equal(found, want) {
		t.Fatalf("Find = %+v, %v; want %+v", found, err, want)
	}
	// Created but never started: nothing ran, nothing to adopt.
	if _, err := b.ex.Adopt(t.Context(), found[0], executor.Spec{}, 0, 0); err == nil || !strings.Contains(err.Error(), "never started") {
		t.Errorf("Adopt of a container never started: got %v", err)
	}
	if found, err := b.ex.Find(t.Context()); err != nil || len(found) != 0 {
		t.Errorf("after the failed Adopt, Find = %+v, %v; want the container removed", found, err)
	}

	noID, err := docker.New(t.Context(), docker.Options{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer noID.Close()
	if _, err := noID.Find(t.Context()); err == nil {
		t.Error("Find without a WorkerID: want error")
	}
}

// awaitStopped waits until no container of worker runs.
func awaitStopped(t *testing.T, b *testBundle) {
	t.Helper()
	if b.warm {
		docker.ClosePool(b.ex) // the worker is dead, its pool with it
	}
	cli := dockerClient(t)
	for _, c := range listContainers(t, "rgrid.worker="+b.worker) {
		ctx, cancel := context.WithTimeout(t.Context(), waitBound)
		w := cli.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case <-w.Result:
		case err := <-w.Error:
			t.Fatalf("wait for container %s: %v", c.ID, err)
		}
		cancel()
	}
}

// cutBuffer records output until cut.
type cutBuffer struct {
	*executortest.Buffer
	cut atomic.Bool
}

func (b *cutBuffer) Write(p []byte) (int, error) {
	if b.cut.Load() {
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// The periodic sweep removes this worker's containers no attempt holds,
// but spares the ones kept and the ones made after its cut-off.
func TestRemoveOrphansBeforeSparesKeptAndNew(t *testing.T) {
	b := setupRecover(t)
	cli := dockerClient(t)
	mk := func(job string) string {
		c, err := cli.ContainerCreate(t.Context(), client.ContainerCreateOptions{
			Config: &container.Config{Image: b.helper, Cmd: []string{"/helper", "sleep", "600"}, Labels: map[string]string{
				"rgrid.managed": "true", "rgrid.worker": b.worker, "rgrid.job": job, "rgrid.attempt": "1",
			}},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
		})
		return c.ID
	}
	mk("orphan")
	mk("kept")
	keep := func(job string, _ int) bool { return job == "kept" }

	// A cut-off in the past: both are newer, neither goes.
	n, err := b.ex.RemoveOrphansBefore(t.Context(), keep, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("with every container newer than the cut-off: removed %d, %v; want 0", n, err)
	}
	// A cut-off past their creation: the orphan goes, the kept one stays.
	n, err = b.ex.RemoveOrphansBefore(t.Context(), keep, time.Now().Add(2*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want the orphan", n, err)
	}
	found, err := b.ex.Find(t.Context())
	if want := []executor.Found{{JobID: "kept", Attempt: 1}}; err != nil || !slices.Equal(found, want) {
		t.Errorf("left %+v, %v; want %+v", found, err, want)
	}
}
