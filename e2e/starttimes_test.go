package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rgrid/rgrid/internal/executor/docker"
)

// TestDockerStartTimes: a job run through a real Docker worker has every
// phase of its start recorded (lease, image, stage, container, first
// byte), none negative and all of them together within the job's wall
// time (submission to end, one machine's clock), also for a script that
// prints nothing (its first byte is its exit); rgrid status -v shows them.
func TestDockerStartTimes(t *testing.T) {
	t.Parallel()
	g := dockerGrid(t, 1)
	for _, tc := range []struct{ name, body string }{
		{"prints.py", "print('hello')\n"},
		{"quiet.py", "x = 1\n"},
	} {
		script := writeScript(t, tc.name, tc.body)
		// An input beside the script: the stage phase writes it.
		if err := os.WriteFile(filepath.Join(filepath.Dir(script), "data.txt"), []byte("input\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := g.rgrid(t, "run", script); r.code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", tc.name, r.code, r.stderr)
		}
		id := jobIDByFile(t, g, tc.name)
		j, err := g.c.Job(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(j.Attempts) != 1 || j.Attempts[0].Start == nil || j.FinishedAt == nil {
			t.Fatalf("%s: attempts %+v", tc.name, j.Attempts)
		}
		st := *j.Attempts[0].Start
		phases := map[string]time.Duration{"lease": st.Lease, "image": st.Image, "stage": st.Stage,
			"container": st.Container, "first byte": st.FirstByte}
		var sum time.Duration
		for name, d := range phases {
			if d <= 0 && name != "lease" { // a lease on an idle worker may round to nothing
				t.Errorf("%s: phase %s = %s, want it recorded (> 0)", tc.name, name, d)
			}
			if d < 0 {
				t.Errorf("%s: phase %s = %s is negative", tc.name, name, d)
			}
			sum += d
		}
		wall := j.FinishedAt.Sub(j.CreatedAt)
		t.Logf("%s: %+v, wall %s", tc.name, st, wall)
		if sum > wall {
			t.Errorf("%s: the phases add up to %s, more than the job's wall time %s (%+v)", tc.name, sum, wall, st)
		}
		s := g.rgrid(t, "status", "-v", id)
		if s.code != 0 || !strings.Contains(s.stdout, "Start (ms):") || !strings.Contains(s.stdout, "FIRST BYTE") {
			t.Errorf("%s: status -v: exit %d\n%s%s", tc.name, s.code, s.stdout, s.stderr)
		}
	}
}

// TestDockerWarmByDefault: a Docker worker started with no --warm keeps a
// warm container waiting once a job has used its image, and the next job
// runs in that very container (its host name is the container's), which
// is removed after it: used once.
func TestDockerWarmByDefault(t *testing.T) {
	t.Parallel()
	// A run directory of its own: the other tests' workers, killed at
	// their ends, leave their runs' mounts below the shared default
	// (os.TempDir()/rgrid-runs), and a worker that finds such mounts below
	// a directory that is not a mount point of its own keeps its pool off.
	g, _ := dockerGridEnv(t, 1, []string{"TMPDIR=" + privateTmp(t)})
	worker := docker.LabelWorker + "=dw-" + t.Name()
	hostname := writeScript(t, "hostname.py", "import socket\nprint(socket.gethostname())\n")
	if r := g.rgrid(t, "run", hostname); r.code != 0 {
		t.Fatalf("first run: exit %d, stderr %q", r.code, r.stderr)
	}
	var warm string
	waitFor(t, 60*time.Second, "a warm container of the worker", func() bool {
		for _, c := range containers(t, worker, "rgrid.pool=1") {
			if c.State == "running" {
				warm = c.ID
				return true
			}
		}
		return false
	})
	r := g.rgrid(t, "run", hostname)
	if r.code != 0 {
		t.Fatalf("second run: exit %d, stderr %q", r.code, r.stderr)
	}
	// One slot, so at most one warm container: the job took the one
	// that waited.
	if got := strings.TrimSpace(r.stdout); got != warm[:12] {
		t.Errorf("the second job ran on host %q, not in the warm container %.12s that waited", got, warm)
	}
	waitFor(t, 30*time.Second, "the used warm container's removal", func() bool {
		for _, c := range containers(t, worker) {
			if c.ID == warm {
				return false
			}
		}
		return true
	})
}

// privateTmp is a temporary directory for a worker's TMPDIR, removed at
// the test's end after its worker (started later, so stopped earlier):
// whatever the worker left mounted below it (the run directory bound on
// itself, a run's disk) is unmounted first, lazily, deepest first.
func privateTmp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rgrid-e2e-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		info, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Error(err)
			return
		}
		var points []string
		for _, line := range strings.Split(string(info), "\n") {
			// Field 5 is the mount point (octal escapes aside: ours have none).
			if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				points = append(points, f[4])
			}
		}
		for i := len(points) - 1; i >= 0; i-- { // mounted later, listed later
			if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				t.Errorf("unmount %s: %v", points[i], err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the worker's TMPDIR: %v", err)
		}
	})
	return dir
}
