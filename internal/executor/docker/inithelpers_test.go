package docker_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// staticInit is a static build of rgrid, the init of the tests' job
// containers (Options.InitPath): built once per test process, in
// staticInitDir, which TestMain removes.
var (
	staticInitOnce sync.Once
	staticInitDir  string
	staticInit     string
	staticInitErr  error
)

// testInit builds rgrid with CGO_ENABLED=0 once (the build cache makes it
// quick) and returns its path.
func testInit(t testing.TB) string {
	t.Helper()
	staticInitOnce.Do(func() {
		staticInitDir, staticInitErr = os.MkdirTemp("", "rgrid-docker-test-init-")
		if staticInitErr != nil {
			return
		}
		staticInit = filepath.Join(staticInitDir, "rgrid")
		build := exec.Command("go", "build", "-trimpath", "-o", staticInit, "github.com/rgrid/rgrid/cmd/rgrid")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			staticInitErr = err
			t.Logf("go build: %s", out)
			return
		}
		// The container's user must be able to execute it through the
		// read-only bind mount.
		staticInitErr = os.Chmod(staticInitDir, 0o755)
	})
	if staticInitErr != nil {
		t.Fatalf("build a static rgrid as the containers' init: %v", staticInitErr)
	}
	return staticInit
}
