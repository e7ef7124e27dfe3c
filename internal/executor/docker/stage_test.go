package docker_test

import (
	"log/slog"
	"testing"

	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/testimages"
)

// A user given by name cannot be chowned to: the staged files are opened
// to everyone instead, and the job can still change, delete and add files.
func TestStagedFilesWritableByNamedUser(t *testing.T) {
	t.Parallel()
	b := &testBundle{helper: testimages.Helper(t), workDir: t.TempDir(), worker: testID(t) + "-" + runToken}
	ex, err := docker.New(t.Context(), docker.Options{
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), WorkerID: b.worker, WorkDir: b.workDir, User: "nobody",
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	b.ex = ex
	spec := b.stagedSpec(t, `
import os
open("job/main.py", "a").write("# changed\n")
os.mkdir("job/new")
open("job/new/x", "w").write("x")
os.remove("job/main.py")
print(os.getuid())
`)
	got := b.start(t, spec).wait(t)
	got.wantExit(t, 0)
	if got.stdout != "65534\n" {
		t.Errorf("ran as uid %q, want nobody's 65534", got.stdout)
	}
	assertNoLeftovers(t, b)
}
