package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor/docker"
)

// TestEmbeddedKilledContainerIsSwept: the container of an embedded rgrid
// run killed with -9 runs on (its time limit died with its worker); the
// next embedded rgrid run of the same data directory, once the killed
// one's worker has been silent for the dead-after, removes it and ends its
// job lost, saying why.
func TestEmbeddedKilledContainerIsSwept(t *testing.T) {
	t.Parallel()
	// The embedded grids' liveness, short so the test need not wait 15 s:
	// heartbeats every second, gone after 6 s of silence.
	const heartbeat, deadAfter = time.Second, 6 * time.Second
	env := isolatedEnv(t, "RGRID_CONFIG="+pythonConfig(t),
		"RGRID_HEARTBEAT_INTERVAL="+heartbeat.String(), "RGRID_DEAD_AFTER="+deadAfter.String())
	slow := writeScript(t, "slow.py", "import time\nprint('started', flush=True)\ntime.sleep(300)\n")
	cmd := exec.Command(rgridBin, "run", slow)
	cmd.Env = env
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the job's first line", func() bool { return strings.Contains(out.String(), "started") })
	if strings.Contains(errb.String(), "without isolation") {
		t.Fatalf("the embedded run did not use Docker:\n%s", errb.String())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()

	l := rgrid(t, env, "list", "--json")
	var list client.JobList
	if err := json.Unmarshal([]byte(l.stdout), &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("list: %v %q", err, l.stdout)
	}
	label := docker.LabelJob + "=" + list.Jobs[0].ID
	t.Cleanup(func() { removeContainers(t, label) })
	if cs := containers(t, label); len(cs) != 1 || cs[0].State != "running" {
		t.Fatalf("the killed run's container: %+v, want one running", cs)
	}

	// Runs within the dead-after leave it alone: its worker may be alive.
	// (Its last heartbeat came at most one interval before the kill.)
	// Once it has been silent longer, the next run removes it.
	hello := writeScript(t, "hello.py", "print('hello')\n")
	var swept time.Time
	waitFor(t, deadAfter+30*time.Second, "a run after the dead-after to sweep the killed run's container", func() bool {
		began := time.Now()
		if r := rgrid(t, env, "run", hello); r.code != 0 || r.stdout != "hello\n" {
			t.Fatalf("run: %d %q %s", r.code, r.stdout, r.stderr)
		}
		if len(containers(t, label)) == 0 {
			swept = began
			return true
		}
		return false
	})
	if early := killed.Add(deadAfter - 2*heartbeat); swept.Before(early) {
		t.Errorf("a run that began %s after the kill swept a run silent for less than the dead-after %s",
			swept.Sub(killed).Round(time.Millisecond), deadAfter)
	}
	// The job ended lost, saying why: in the sweep's words, or in the
	// reaper's when a run that lived past the dead-after (a slow machine)
	// reaped it first.
	s := rgrid(t, env, "status", list.Jobs[0].ID)
	byName := strings.Contains(s.stdout, "the rgrid run that ran it") && strings.Contains(s.stdout, "was killed before the job ended")
	reaped := strings.Contains(s.stdout, "stopped responding")
	if !strings.Contains(s.stdout, "lost") || !byName && !reaped {
		t.Errorf("status of the killed run's job does not say it was lost with its run:\n%s", s.stdout)
	}
}

// TestDevRestartAdoptsItsContainer: rgrid dev killed with -9 and started
// again is the same worker (it keeps its id in the data directory), so it
// adopts the container its detached job still runs in: one attempt, every
// line once, no container left behind, instead of the job running again
// beside the old container.
func TestDevRestartAdoptsItsContainer(t *testing.T) {
	t.Parallel()
	env := isolatedEnv(t, "RGRID_CONFIG="+pythonConfig(t))
	dev, url := startDev(t, env)
	script := writeScript(t, "count.py", countPy)
	r := rgrid(t, env, "run", "--detach", script, "16", "0.5")
	if r.code != 0 {
		t.Fatalf("detach: %d %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	t.Cleanup(func() { removeContainers(t, docker.LabelJob+"="+id) })
	c := newClient(t, url)
	waitFor(t, 60*time.Second, "the job's first lines", func() bool {
		return strings.Contains(stdoutOf(t, c, id, 0), "line 2\n")
	})
	kill9(t, dev)
	if cs := containers(t, docker.LabelJob+"="+id); len(cs) != 1 || cs[0].State != "running" {
		t.Fatalf("after the kill: %+v, want the job's container running", cs)
	}

	_, url = startDev(t, env)
	c = newClient(t, url)
	waitFor(t, 90*time.Second, "the job to end", func() bool { return getJob(t, c, id).State.Terminal() })
	j := getJob(t, c, id)
	if j.State != client.StateSucceeded || j.Attempt != 1 {
		t.Fatalf("job %s attempt %d: %s %s; attempts:%s", j.State, j.Attempt, j.Reason, j.Message, attemptsSummary(j.Attempts))
	}
	if got := stdoutOf(t, c, id, 0); got != countOutput(16) {
		t.Errorf("stdout across the restart:\n%s", diffLines(got, countOutput(16)))
	}
	waitFor(t, 30*time.Second, "the adopted container removed", func() bool {
		return len(containers(t, docker.LabelJob+"="+id)) == 0
	})
}
