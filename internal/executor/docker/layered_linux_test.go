package docker_test

// Inputs kept in a layer per inputs manifest, each run an overlay on it.

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/testimages"
	"github.com/rgrid/rgrid/internal/workdir"
)

// layerBundle is a bundle whose layer cache is in layerDir.
type layerBundle struct {
	*testBundle
	layerDir string
	inputs   workdir.Manifest
	src      string       // the project the inputs were scanned from
	stages   atomic.Int32 // calls of the specs' Stage
}

// setupLayers makes an executor with its layer cache in a directory of
// the test's, and a project of three inputs. It fails where overlay
// mounts are not available (the tests here are about them).
func setupLayers(t *testing.T, tweak func(*docker.Options)) *layerBundle {
	t.Helper()
	t.Parallel()
	b := &layerBundle{testBundle: &testBundle{helper: testimages.Helper(t), workDir: t.TempDir(), worker: testID(t) + "-" + runToken}, layerDir: t.TempDir()}
	opts := docker.Options{
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		WorkerID: b.worker, WorkDir: b.workDir, LayerDir: b.layerDir, InitPath: testInit(t),
	}
	if tweak != nil {
		tweak(&opts)
	}
	ex, err := docker.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	b.ex = ex
	if !opts.NoOverlay && !docker.Layered(ex) {
		t.Fatal("overlay mounts are not available here (root and overlayfs are needed)")
	}
	b.src = t.TempDir()
	for p, v := range map[string]string{"data.txt": "orig", "gone.txt": "delete me", "sub/keep.txt": "kept", "job/main.py": ""} {
		full := filepath.Join(b.src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// spec is a Python job running script as job/main.py among the inputs,
// its outputs collected into *got (from the upper directory when the run
// was an overlay, into *viaUpper true).
func (b *layerBundle) spec(t *testing.T, script string, got *workdir.Collected, viaUpper *bool) executor.Spec {
	t.Helper()
	if err := os.WriteFile(filepath.Join(b.src, "job", "main.py"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := workdir.Scan(t.Context(), b.src, workdir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.inputs = plan.Manifest
	byHash := map[string]string{}
	for _, e := range b.inputs.Entries {
		if e.Kind == workdir.KindFile {
			byHash[e.SHA256] = filepath.Join(b.src, filepath.FromSlash(e.Path))
		}
	}
	inputs := b.inputs
	collect := func(upper bool) func(string) {
		return func(dir string) {
			c, err := workdir.Collect(context.Background(), dir, inputs, workdir.Limits{Upper: upper})
			if err != nil {
				t.Errorf("Collect: %v", err)
			}
			*got, *viaUpper = c, upper
		}
	}
	return b.helperSpec(t, "", func(s *executor.Spec) {
		s.Image, s.Command, s.FileName, s.Script = testimages.Python(t), []string{"python3.11"}, "job/main.py", nil
		s.InputsKey = inputs.Key()
		s.Stage = func(dir string) error {
			b.stages.Add(1)
			_, err := workdir.Stage(context.Background(), dir, inputs, func(_ context.Context, h string) (io.ReadCloser, error) { return os.Open(byHash[h]) })
			return err
		}
		s.Collect, s.CollectChanges = collect(false), collect(true)
		s.Limits.DiskBytes = 32 << 20
	})
}

func outputPaths(c workdir.Collected) []string {
	var out []string
	for _, e := range c.Outputs.Entries {
		out = append(out, e.Path)
	}
	return out
}

// editScript changes and deletes inputs, and makes a file.
const editScript = `
import os, shutil
print(open("data.txt").read() + "|" + str(os.path.exists("gone.txt")) + "|" + open("sub/keep.txt").read(), flush=True)
open("data.txt", "a").write(" changed")
os.remove("gone.txt")
shutil.rmtree("sub")
os.mkdir("sub")
open("sub/new.txt", "w").write("new")
open("out.txt", "w").write("out")
`

func TestLayerIsBuiltOnceAndEveryRunSeesPristineInputs(t *testing.T) {
	needQuota(t)
	b := setupLayers(t, nil)
	var got workdir.Collected
	var viaUpper bool
	spec := b.spec(t, editScript, &got, &viaUpper)
	for i := range 3 {
		spec.JobID = testID(t) + "-" + string(rune('a'+i))
		o := b.start(t, spec).wait(t)
		o.wantExit(t, 0)
		if want := "orig|True|kept\n"; o.stdout != want {
			t.Fatalf("run %d saw %q, want the pristine inputs %q (stderr %s)", i, o.stdout, want, o.stderr)
		}
		if !viaUpper {
			t.Fatalf("run %d was collected from the whole working directory, not the overlay's upper directory", i)
		}
		// The changed input and the new files; the deleted ones are not
		// outputs, and no whiteout is listed as skipped.
		if p, want := outputPaths(got), []string{"data.txt", "out.txt", "sub/new.txt"}; !slices.Equal(p, want) || len(got.Skipped) != 0 {
			t.Fatalf("run %d: outputs %v (skipped %v), want %v and nothing skipped", i, p, got.Skipped, want)
		}
	}
	if n := b.stages.Load(); n != 1 {
		t.Errorf("the inputs were staged %d times for three runs, want once (one layer)", n)
	}
	layer := filepath.Join(b.layerDir, b.inputs.Key())
	for p, want := range map[string]string{"data.txt": "orig", "gone.txt": "delete me", "sub/keep.txt": "kept"} {
		if data, err := os.ReadFile(filepath.Join(layer, p)); err != nil || string(data) != want {
			t.Errorf("layer's %s: %q, %v; want %q untouched", p, data, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(layer, "out.txt")); err == nil {
		t.Error("a job's new file is in the layer")
	}
	assertNoLeftovers(t, b.testBundle)
}

func TestLayerWritesCountAgainstTheDiskLimit(t *testing.T) {
	needQuota(t)
	b := setupLayers(t, nil)
	var got workdir.Collected
	var viaUpper bool
	// 40 MiB into a 32 MiB working directory.
	spec := b.spec(t, `
import errno
try:
    with open("big.bin", "wb") as f:
        for _ in range(40):
            f.write(b"x" * (1 << 20))
            f.flush()
except OSError as e:
    print("ENOSPC" if e.errno == errno.ENOSPC else "other: " + str(e), flush=True)
`, &got, &viaUpper)
	o := b.start(t, spec).wait(t)
	o.wantExit(t, 0)
	if !strings.Contains(o.stdout, "ENOSPC") {
		t.Fatalf("a write past the disk limit on the overlay: stdout %q, want ENOSPC (stderr %s)", o.stdout, o.stderr)
	}
	if !o.res.DiskFull {
		t.Errorf("DiskFull false after the job filled its overlay's disk")
	}
	assertNoLeftovers(t, b.testBundle)
}

func TestConcurrentFirstRunsBuildTheLayerOnce(t *testing.T) {
	needQuota(t)
	b := setupLayers(t, nil)
	var got workdir.Collected
	var viaUpper bool
	spec := b.spec(t, `print(open("data.txt").read())`, &got, &viaUpper)
	spec.Collect, spec.CollectChanges = nil, nil // shared *got: not raced over
	var wg sync.WaitGroup
	outs := make([]outcome, 3)
	for i := range outs {
		s := spec
		s.JobID = testID(t) + "-" + string(rune('a'+i))
		wg.Go(func() {
			h, err := b.ex.Start(t.Context(), s)
			if err != nil {
				t.Errorf("Start: %v", err)
				return
			}
			res, err := h.Wait(t.Context())
			if err != nil {
				t.Errorf("Wait: %v", err)
			}
			outs[i].res = res
		})
	}
	wg.Wait()
	for i, o := range outs {
		if o.res.Outcome != executor.Exited || o.res.ExitCode != 0 {
			t.Errorf("run %d: %+v", i, o.res)
		}
	}
	if n := b.stages.Load(); n != 1 {
		t.Errorf("three concurrent first runs staged the inputs %d times, want once", n)
	}
	assertNoLeftovers(t, b.testBundle)
}

func TestFailedOverlayMountFallsBackToACopy(t *testing.T) {
	needQuota(t)
	b := setupLayers(t, nil)
	docker.FailOverlayMounts(b.ex)
	var got workdir.Collected
	var viaUpper bool
	spec := b.spec(t, editScript, &got, &viaUpper)
	for i := range 2 {
		spec.JobID = testID(t) + "-" + string(rune('a'+i))
		o := b.start(t, spec).wait(t)
		o.wantExit(t, 0)
		if want := "orig|True|kept\n"; o.stdout != want {
			t.Fatalf("run %d saw %q, want %q (stderr %s)", i, o.stdout, want, o.stderr)
		}
		if viaUpper {
			t.Fatalf("run %d: collected as an overlay's upper directory, but it was a copy", i)
		}
		if p, want := outputPaths(got), []string{"data.txt", "out.txt", "sub/new.txt"}; !slices.Equal(p, want) {
			t.Fatalf("run %d: outputs %v, want %v", i, p, want)
		}
	}
	// One layer build (the first run, before its mount failed), then the
	// copy of each run.
	if n := b.stages.Load(); n != 3 {
		t.Errorf("Stage called %d times, want 3 (the layer, then a copy per run)", n)
	}
	assertNoLeftovers(t, b.testBundle)
}

func TestNoOverlayCopiesEveryRun(t *testing.T) {
	b := setupLayers(t, func(o *docker.Options) { o.NoOverlay = true })
	var got workdir.Collected
	var viaUpper bool
	spec := b.spec(t, editScript, &got, &viaUpper)
	for i := range 2 {
		spec.JobID = testID(t) + "-" + string(rune('a'+i))
		o := b.start(t, spec).wait(t)
		o.wantExit(t, 0)
		if want := "orig|True|kept\n"; o.stdout != want || viaUpper {
			t.Fatalf("run %d saw %q (upper %v), want %q from a copy (stderr %s)", i, o.stdout, viaUpper, want, o.stderr)
		}
	}
	if n := b.stages.Load(); n != 2 {
		t.Errorf("Stage called %d times, want once per run", n)
	}
	if entries, _ := os.ReadDir(b.layerDir); len(entries) != 0 {
		t.Errorf("layer directory holds %d entries with NoOverlay", len(entries))
	}
	assertNoLeftovers(t, b.testBundle)
}

func TestSweepUnmountsALeftOverlay(t *testing.T) {
	needQuota(t)
	b := setupLayers(t, nil)
	var got workdir.Collected
	var viaUpper bool
	spec := b.spec(t, `print("x")`, &got, &viaUpper)
	// A worker that died between staging and creating the container.
	_, unlock, err := docker.StageOnly(t.Context(), b.ex, spec)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if m := executortest.MountsUnder(t, b.workDir); len(m) != 2 {
		t.Fatalf("after staging: mounts %v, want the disk and the overlay", m)
	}
	ex, err := docker.New(t.Context(), docker.Options{
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), WorkerID: b.worker, WorkDir: b.workDir, LayerDir: b.layerDir, InitPath: testInit(t),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	assertNoLeftovers(t, b.testBundle)
	if _, err := os.Stat(filepath.Join(b.layerDir, b.inputs.Key())); err != nil {
		t.Errorf("the layer went with the sweep: %v", err)
	}
}
