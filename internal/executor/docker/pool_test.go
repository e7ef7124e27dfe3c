package docker_test

// The warm pool (pool.go) against a real engine: the package's isolation
// and init tests on warm containers, and what a warm container must never
// carry or be.

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/testimages"
)

// TestWarm runs tests of the package on warm containers: newBundle gives
// a test under TestWarm a pool, and every start of its bundle waits for a
// warm container and fails if the run did not get one.
func TestWarm(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"OOMKilled", TestOOMKilled},
		{"Exit137IsNotOOM", TestExit137IsNotOOM},
		{"Timeout", TestTimeout},
		{"KillIsQuick", TestKillIsQuick},
		{"ForkBombContained", TestForkBombContained},
		{"Network", TestNetwork},
		{"Filesystem", TestFilesystem},
		{"RunsDoNotShareFiles", TestRunsDoNotShareFiles},
		{"CPULimit", TestCPULimit},
		{"ExitCodeAndOutput", TestExitCodeAndOutput},
		{"Environment", TestEnvironment},
		{"PlatformCredentialsNotInJobEnvironment", TestPlatformCredentialsNotInJobEnvironment},
		{"InitForwardsSignalAndReapsOrphans", TestInitForwardsSignalAndReapsOrphans},
		{"InitSignalExitCode", TestInitSignalExitCode},
		{"InitExactArgvEnvAndDir", TestInitExactArgvEnvAndDir},
		{"InitStdinFIFO", TestInitStdinFIFO},
		{"InitExactBytesStreamsApart", TestInitExactBytesStreamsApart},
		{"InitEndsLeftoversBeforeTheResult", TestInitEndsLeftoversBeforeTheResult},
		{"StagedDiskLimit", testWarmStagedDiskLimit},
		{"AdoptRunningDeliversRestExactlyOnce", TestAdoptRunningDeliversRestExactlyOnce},
		{"AdoptExited", TestAdoptExited},
		{"AdoptOOMKilledUsesContainerLimit", TestAdoptOOMKilledUsesContainerLimit},
		{"AdoptKeepsTimeLimit", TestAdoptKeepsTimeLimit},
		{"AdoptedKill", TestAdoptedKill},
	} {
		t.Run(tc.name, tc.f)
	}
}

// testWarmStagedDiskLimit: a staged job on a warm container gets its
// files and its disk limit (the mount made after the container started).
func testWarmStagedDiskLimit(t *testing.T) {
	b := setup(t)
	got := b.start(t, b.stagedSpec(t, `
import errno, os
print(sorted(os.listdir(".")), os.listdir("job"))
n = 0
try:
    with open("fill", "wb") as f:
        while n < 64 << 20:
            f.write(b"x" * (1 << 20)); f.flush(); n += 1 << 20
    print("no limit", n)
except OSError as e:
    print("ENOSPC" if e.errno == errno.ENOSPC else "other: " + str(e), n < 32 << 20)
`)).wait(t)
	got.wantExit(t, 0)
	if want := "['job'] ['main.py']\nENOSPC True\n"; got.stdout != want {
		t.Errorf("stdout %q, want %q (stderr %s)", got.stdout, want, got.stderr)
	}
}

// TestWarmContainerHasNoPastAndServesOnce: what a job on a warm container
// finds is what it would find in a new one (no file in /tmp or its
// working directory but its own, no process but the init and itself, the
// environment exactly its own), and no container serves two jobs.
func TestWarmContainerHasNoPastAndServesOnce(t *testing.T) {
	b := warmBundle(t, 2, 0)
	const probe = `
import json, os
procs = sorted(open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")[0].decode()
               for p in os.listdir("/proc") if p.isdigit())
print(json.dumps({"tmp": os.listdir("/tmp"), "work": sorted(os.listdir(".")),
                  "procs": procs, "env": dict(os.environ), "pid": os.getpid()}))
`
	spec := b.stagedSpec(t, probe)
	spec.Env = map[string]string{"JOB_VAR": "v"}
	seen := map[string]bool{}
	for i := range 3 {
		r := b.start(t, spec)
		id := docker.ContainerID(r.h)
		if seen[id] {
			t.Fatalf("run %d got container %.12s, which served an earlier run", i, id)
		}
		seen[id] = true
		got := r.wait(t)
		got.wantExit(t, 0)
		var p struct {
			Tmp, Work, Procs []string
			Env              map[string]string
			Pid              int
		}
		if err := json.Unmarshal([]byte(got.stdout), &p); err != nil {
			t.Fatalf("probe output %q: %v", got.stdout, err)
		}
		if len(p.Tmp) != 0 || len(p.Work) != 1 || p.Work[0] != "job" {
			t.Errorf("run %d: /tmp holds %q and the working directory %q; want nothing and [job]", i, p.Tmp, p.Work)
		}
		if len(p.Procs) != 2 || p.Procs[0] != "/rgrid/bin/rgrid-init" || p.Procs[1] != "python3.11" {
			t.Errorf("run %d: processes %q; want the init and the job only", i, p.Procs)
		}
		want := map[string]string{"HOME": "/rgrid/work", "TMPDIR": "/tmp", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "JOB_VAR": "v"}
		for k, v := range want {
			if p.Env[k] != v {
				t.Errorf("run %d: %s=%q, want %q", i, k, p.Env[k], v)
			}
		}
		for k := range p.Env {
			if _, ok := want[k]; !ok && k != "PATH" && k != "HOSTNAME" && k != "GPG_KEY" && k != "PYTHON_VERSION" && k != "PYTHON_SHA256" {
				t.Errorf("run %d: %s is in the job's environment: neither the job's, ours nor the image's", i, k)
			}
		}
		awaitGone(t, id)
	}
}

// TestWarmRefusedWithoutPropagation: where the job's disk, mounted on the
// host after the warm container started, does not appear in it (a worker
// in a container without shared propagation), the init refuses the job
// before it starts; the job runs in a new container with its files and
// its disk, none of the refusal in its output, and the pool turns off.
func TestWarmRefusedWithoutPropagation(t *testing.T) {
	b := warmBundle(t, 1, 0)
	docker.BreakWarmPropagation(b.ex)
	spec := b.stagedSpec(t, `
import os
print(sorted(os.listdir(".")), os.statvfs(".").f_blocks * os.statvfs(".").f_frsize <= 32 << 20)
`)
	b.awaitWarm(t, spec)
	r := &run{stdout: executortest.NewBuffer(), stderr: executortest.NewBuffer()}
	spec.Stdout, spec.Stderr = r.stdout, r.stderr
	h, err := b.ex.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	r.h = h
	got := r.wait(t)
	got.wantExit(t, 0)
	if want := "['job'] True\n"; got.stdout != want || got.stderr != "" {
		t.Errorf("stdout %q (want %q), stderr %q (want none)", got.stdout, want, got.stderr)
	}
	if docker.RanWarm(h) {
		t.Error("the run is on the warm container its disk did not reach")
	}
	if !docker.PoolOff(b.ex) {
		t.Fatal("the pool is still on after a refusal")
	}
	if err := docker.AwaitWarm(t.Context(), b.ex, spec); err == nil {
		t.Error("AwaitWarm found a warm container after the pool turned off")
	}
	assertNoLeftovers(t, b)
}

// TestWarmPoolEmptiesWhenIdle: no start for PoolIdle, no warm container.
func TestWarmPoolEmptiesWhenIdle(t *testing.T) {
	b := warmBundle(t, 2, 500*time.Millisecond)
	b.runHelper(t, "exit 0", nil).wantExit(t, 0)
	deadline := time.Now().Add(30 * time.Second)
	for b.ex.Warm() > 0 || len(listContainers(t, "rgrid.worker="+b.worker)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d warm containers still wait %v after the last start (idle 500 ms)", b.ex.Warm(), 30*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWarmLeftoversRemoved: a worker's own pool keeps its warm containers
// through RemoveOrphans; a restarted worker removes those it finds.
func TestWarmLeftoversRemoved(t *testing.T) {
	b := warmBundle(t, 1, 0)
	spec := b.helperSpec(t, "exit 0", nil)
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	if err := docker.AwaitWarm(ctx, b.ex, spec); err != nil {
		t.Fatal(err)
	}
	none := func(string, int) bool { return false }
	if n, err := b.ex.RemoveOrphans(ctx, none); err != nil || n != 0 {
		t.Fatalf("RemoveOrphans of the pool's own worker = %d, %v; want 0 removed", n, err)
	}
	if found, err := b.ex.Find(ctx); err != nil || len(found) != 0 {
		t.Fatalf("Find = %v, %v; a warm container without a job is no run", found, err)
	}
	if got := len(listContainers(t, "rgrid.worker="+b.worker)); got != 1 {
		t.Fatalf("%d containers of the worker, want its 1 warm one", got)
	}
	cold := *b
	cold.warm = false // the restart without closing the first pool
	again := cold.restarted(t)
	if n, err := again.RemoveOrphans(ctx, none); err != nil || n != 1 {
		t.Fatalf("RemoveOrphans after a restart = %d, %v; want the 1 warm container removed", n, err)
	}
	docker.ClosePool(b.ex)
	assertNoLeftovers(t, b)
}

func warmBundle(t *testing.T, max int, idle time.Duration) *testBundle {
	t.Helper()
	t.Parallel()
	b := &testBundle{helper: testimages.Helper(t), workDir: t.TempDir(), worker: testID(t) + "-" + runToken, warm: true}
	ex, err := docker.New(t.Context(), docker.Options{
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		WorkerID: b.worker, WorkDir: b.workDir, InitPath: testInit(t),
		PoolMax: max, PoolIdle: idle,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	b.ex = ex
	return b
}

// awaitGone waits for the container id to be removed.
func awaitGone(t *testing.T, id string) {
	t.Helper()
	cli := dockerClient(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cli.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %.12s still there 30 s after its run: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
