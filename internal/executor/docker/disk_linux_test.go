package docker_test

// The working directory's mount across worker restarts, the sweep for
// leftovers and the DiskQuota modes.

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/diskquota"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/testimages"
)

// needQuota skips a test where this machine cannot limit working
// directories, or fails it under CI=true.
func needQuota(t *testing.T) {
	t.Helper()
	if _, err := diskquota.Setup(t.Context(), diskquota.Required, "", t.TempDir(), nil); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("disk quotas are required in CI: %v", err)
		}
		t.Skipf("no disk quota here: %v", err)
	}
}

// wantMounts checks the number of working directory mounts (and loop
// devices) under the test's work directory.
func (b *testBundle) wantMounts(t *testing.T, n int, when string) {
	t.Helper()
	if m, l := executortest.MountsUnder(t, b.workDir), executortest.LoopDevicesUnder(t, b.workDir); len(m) != n || len(l) != n {
		t.Fatalf("%s: want %d mounts and loop devices, got mounts %v, loop devices %v", when, n, m, l)
	}
}

func TestAdoptedRunKeepsItsMountAndIsCollected(t *testing.T) {
	needQuota(t)
	b := setupRecover(t)
	spec := b.stagedSpec(t, `
import time
open("before.txt", "w").write("b")
print("ready", flush=True)
time.sleep(2)
open("after.txt", "w").write("a")
`)
	h, aOut, aErr := b.startDying(t, spec)
	aOut.WaitFor(t, "ready")
	die(h, aOut, aErr)
	b.wantMounts(t, 1, "after the worker died")

	// The restarted worker's New sweeps the work directory: the live run's
	// directory has a container and must survive it.
	ex := b.restarted(t)
	b.wantMounts(t, 1, "after the restart")

	var mu sync.Mutex
	var calls int
	var seen []string
	r := &run{stdout: executortest.NewBuffer(), stderr: executortest.NewBuffer()}
	adopted := executor.Spec{Stdout: r.stdout, Stderr: r.stderr, Limits: spec.Limits, Collect: func(dir string) {
		entries, _ := os.ReadDir(dir)
		mu.Lock()
		defer mu.Unlock()
		calls++
		for _, e := range entries {
			seen = append(seen, e.Name())
		}
	}}
	h, err := ex.Adopt(t.Context(), findOne(t, ex, true), adopted, int64(len("ready\n")), 0)
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	r.h = h
	r.wait(t).wantExit(t, 0)
	mu.Lock()
	if got := strings.Join(seen, " "); calls != 1 || got != "after.txt before.txt job" {
		t.Errorf("Collect: %d calls, saw %q; want one seeing the files of both workers' times", calls, got)
	}
	mu.Unlock()
	assertNoLeftovers(t, b)
}

func TestAbandonedRunNotCollected(t *testing.T) {
	needQuota(t)
	b := setupRecover(t)
	spec := b.stagedSpec(t, "import time\nprint('ready', flush=True)\ntime.sleep(600)\n")
	called := make(chan struct{}, 1)
	spec.Collect = func(string) { called <- struct{}{} }
	h, aOut, aErr := b.startDying(t, spec)
	aOut.WaitFor(t, "ready")
	die(h, aOut, aErr)
	select {
	case <-called:
		t.Error("Collect called for a run its worker let go of")
	default:
	}
	removed, err := b.restarted(t).RemoveOrphans(t.Context(), func(string, int) bool { return false })
	if err != nil || removed != 1 {
		t.Fatalf("RemoveOrphans = %d, %v", removed, err)
	}
	assertNoLeftovers(t, b) // the orphan's mount and loop device with it
}

func TestSweepRemovesRunDirsWithoutContainers(t *testing.T) {
	needQuota(t)
	b := setupRecover(t)
	// Two workers died after staging, before creating their containers;
	// a third is staging right now and holds its directory's lock.
	for range 2 {
		_, unlock, err := docker.StageOnly(t.Context(), b.ex, b.stagedSpec(t, "print(1)"))
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	busy, unlock, err := docker.StageOnly(t.Context(), b.ex, b.stagedSpec(t, "print(1)"))
	if err != nil {
		t.Fatal(err)
	}
	b.wantMounts(t, 3, "after staging")

	if _, err := b.ex.RemoveOrphans(t.Context(), func(string, int) bool { return true }); err != nil {
		t.Fatalf("RemoveOrphans: %v", err)
	}
	b.wantMounts(t, 1, "after the sweep")
	if _, err := os.Stat(busy); err != nil {
		t.Fatalf("the sweep took a directory being staged: %v", err)
	}

	unlock()
	b.restarted(t) // a worker's start sweeps too
	assertNoLeftovers(t, b)
}

func TestDiskQuotaModes(t *testing.T) {
	testimages.Docker(t)
	missing := filepath.Join(t.TempDir(), "no-such-mkfs.ext4")
	newWith := func(t *testing.T, mode diskquota.Mode, log *slog.Logger) (*docker.Executor, string, error) {
		dir := t.TempDir()
		ex, err := docker.New(t.Context(), docker.Options{
			Logger: log, WorkerID: testID(t) + "-" + runToken, WorkDir: dir, DiskQuota: mode, Mkfs: missing,
			InitPath: testInit(t),
		})
		if err == nil {
			t.Cleanup(func() { ex.Close() })
		}
		return ex, dir, err
	}

	t.Run("RequiredFails", func(t *testing.T) {
		t.Parallel()
		_, _, err := newWith(t, diskquota.Required, nil)
		if !errors.Is(err, diskquota.ErrUnavailable) || errors.Is(err, executor.ErrUnavailable) {
			t.Fatalf("New = %v; want diskquota.ErrUnavailable, not the engine's", err)
		}
		for _, want := range []string{"mkfs.ext4", "--disk-quota off"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
	t.Run("AutoWarnsAndRunsUnbounded", func(t *testing.T) {
		t.Parallel()
		var logged executortest.Buffer
		ex, dir, err := newWith(t, diskquota.Auto, slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if n := strings.Count(logged.String(), "level=WARN"); n != 1 {
			t.Errorf("want one warning, got %q", logged.String())
		}
		b := &testBundle{ex: ex, workDir: dir, helper: testimages.Helper(t), worker: testID(t) + "-" + runToken}
		var mounted bool
		spec := b.stagedSpec(t, "open('x', 'w').write('x')\n")
		spec.Collect = func(dir string) { mounted = diskquota.Mounted(dir) }
		b.start(t, spec).wait(t).wantExit(t, 0)
		if mounted {
			t.Error("a working directory was mounted without a quota")
		}
		assertNoLeftovers(t, b)
	})
	t.Run("OffSaysNothing", func(t *testing.T) {
		t.Parallel()
		var logged executortest.Buffer
		if _, _, err := newWith(t, diskquota.Off, slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))); err != nil {
			t.Fatalf("New: %v", err)
		}
		if logged.String() != "" {
			t.Errorf("logged %q", logged.String())
		}
	})
}
