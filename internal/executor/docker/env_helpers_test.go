package docker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/executor/executortest"
	"github.com/rgrid/rgrid/internal/testimages"
)

type envBundle struct {
	*testBundle
	python string
	index  testimages.PackageIndex
}

// setupEnv starts an index and an executor whose builds reach it.
func setupEnv(t *testing.T, tweak func(*docker.Options)) *envBundle {
	t.Helper()
	t.Parallel()
	b := &envBundle{
		testBundle: &testBundle{workDir: t.TempDir(), worker: testID(t) + "-" + runToken},
		python:     testimages.Python(t),
		index:      testimages.StartIndex(t),
	}
	opts := docker.Options{
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		WorkerID:       b.worker,
		WorkDir:        b.workDir,
		DepsNetwork:    b.index.Network,
		PipIndexURL:    "http://pypi:8080/simple",
		PipTrustedHost: "pypi",
		InitPath:       testInit(t),
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
	return b
}

// reqs makes a requirement set of this test run alone: the marker is
// always true, but makes the set (and so the environment) new, whatever
// earlier runs left on the engine. The test's environment images are
// removed when it ends.
func (b *envBundle) reqs(t *testing.T, lines ...string) []string {
	t.Helper()
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf(`%s ; platform_release != "%s-%s"`, l, testID(t), runToken)
	}
	tag := docker.EnvTag(b.python, out)
	t.Cleanup(func() {
		cli := dockerClient(t)
		_, err := cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove environment image %s: %v", tag, err)
		}
	})
	return out
}

func (b *envBundle) spec(t *testing.T, script string, reqs []string, sys io.Writer) executor.Spec {
	return executor.Spec{
		JobID: testID(t), Attempt: 1, Image: b.python, Command: []string{"python3.11"},
		FileName: "main.py", Script: []byte(script), Requirements: reqs, System: sys,
		Limits: executor.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, Timeout: waitBound},
	}
}

// run runs a job to its end and returns it with its System output.
func (b *envBundle) run(t *testing.T, script string, reqs []string) (outcome, string) {
	t.Helper()
	sys := executortest.NewBuffer()
	began := time.Now()
	got := b.start(t, b.spec(t, script, reqs, sys)).wait(t)
	t.Logf("run took %v; system output:\n%s", time.Since(began), sys.String())
	return got, sys.String()
}

func (b *envBundle) imageExists(t *testing.T, reqs []string) bool {
	t.Helper()
	_, err := dockerClient(t).ImageInspect(t.Context(), docker.EnvTag(b.python, reqs))
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// assertNoLeftovers checks that no container of the test's worker, build
// or job, and no run or staging directory is left.
func (b *envBundle) assertNoLeftovers(t *testing.T) {
	t.Helper()
	for _, label := range []string{"rgrid.env.build=" + b.worker, "rgrid.worker=" + b.worker} {
		awaitNoContainers(t, label) // a run is removed just after its result
	}
	executortest.AssertReleased(t, b.workDir) // the run directories, waited for
	entries, err := os.ReadDir(b.workDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "env-usage.json" {
			t.Errorf("%s left in the work directory", e.Name())
		}
	}
}
