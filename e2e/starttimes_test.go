package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	// The worker's run directory is its test's own (isolatedEnv): were it
	// shared, the mounts other tests' killed workers leave in it would
	// keep this worker's pool off.
	g, _ := dockerGridWorker(t, 1)
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
