package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
)

// kill -9 a worker during a job: the job is queued again within the
// dead-after interval plus one reaper scan, and finishes on the other
// worker; its status shows both attempts.
func TestLivenessKilledWorkerJobRunsElsewhere(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{docker: true})
	a, b := workerID(t, "a"), workerID(t, "b")
	pa := g.worker(t, a, g.url, 1)
	id := g.submit(t, "count.py", countPy, "8", "0.5")
	g.waitRunningOn(t, id, a, 1)
	g.worker(t, b, g.url, 1) // only now, so that the job went to a

	kill9(t, pa)
	killed := time.Now()
	// The last heartbeat was at most one interval before the kill.
	limit := liveDeadAfter + liveReap + 3*time.Second
	took := waitFor(t, limit, "the killed worker's attempt to end lost", func() bool {
		j := g.job(t, id)
		return len(j.Attempts) > 0 && j.Attempts[0].State == client.StateLost
	})
	t.Logf("attempt 1 ended lost %s after kill -9 (dead-after %s, reaper every %s)", took.Round(10*time.Millisecond), liveDeadAfter, liveReap)
	g.waitRunningOn(t, id, b, 2)
	t.Logf("running again on %s %s after kill -9", b, time.Since(killed).Round(10*time.Millisecond))

	waitTerminal(t, g.c, []string{id}, 60*time.Second)
	j := g.status(t, id)
	if j.State != client.StateSucceeded || len(j.Attempts) != 2 || j.WorkerID != b {
		t.Fatalf("job %s on %s, want succeeded on %s after 2 attempts; attempts:%s", j.State, j.WorkerID, b, attemptsSummary(j.Attempts))
	}
	first, second := j.Attempts[0], j.Attempts[1]
	if first.Number != 1 || first.WorkerID != a || first.State != client.StateLost || first.Reason != "worker_lost" {
		t.Errorf("attempt 1: %+v, want lost (worker_lost) on %s", first, a)
	}
	checkLostTo(t, "attempt 1", first.Message, a)
	if second.Number != 2 || second.WorkerID != b || second.State != client.StateSucceeded {
		t.Errorf("attempt 2: %+v, want succeeded on %s", second, b)
	}
	if got := stdoutOf(t, g.c, id, 2); got != countOutput(8) {
		t.Errorf("attempt 2 printed %q, want %q", got, countOutput(8))
	}
}

// With no attempts left, a job whose worker died ends lost, naming the
// worker and when it was last heard from.
func TestLivenessKilledWorkerNoAttemptsLeft(t *testing.T) {
	t.Parallel()
	g := newLiveGrid(t, liveOptions{docker: true, server: []string{"--max-attempts", "1"}})
	a := workerID(t, "a")
	pa := g.worker(t, a, g.url, 1)
	id := g.submit(t, "count.py", countPy, "60", "0.5")
	g.waitRunningOn(t, id, a, 1)
	kill9(t, pa)
	j := waitTerminal(t, g.c, []string{id}, liveDeadAfter+liveReap+5*time.Second)[id]
	if j.State != client.StateLost {
		t.Fatalf("job ended %s, want lost; attempts:%s", j.State, attemptsSummary(j.Attempts))
	}
	checkLostTo(t, "job", j.Message, a)
	s := g.status(t, id)
	if len(s.Attempts) != 1 || s.Attempts[0].State != client.StateLost {
		t.Errorf("attempts:%s\nwant one, lost", attemptsSummary(s.Attempts))
	}
	if r := g.rgrid(t, "status", id); !strings.Contains(r.stdout, "stopped responding") {
		t.Errorf("rgrid status does not say the worker stopped responding:\n%s", r.stdout)
	}
}

// kill -9 only the worker agent while its container runs and start it
// again within the dead-after interval: it adopts the container, and the
// job finishes once, with every line of its output exactly once.
func TestLivenessRestartedAgentAdoptsContainer(t *testing.T) {
	t.Parallel()
	// Dead after 10 s: room for a restart on a busy machine.
	g := newLiveGrid(t, liveOptions{docker: true, server: []string{"--dead-after", "10s"}})
	a := workerID(t, "a")
	pa := g.worker(t, a, g.url, 1)
	const lines = 24
	id := g.submit(t, "count.py", countPy, fmt.Sprint(lines), "0.4")
	g.waitRunningOn(t, id, a, 1)
	g.waitOutput(t, id, "line 3\n", 20*time.Second)
	before := containers(t, "rgrid.job="+id)
	if len(before) != 1 {
		t.Fatalf("%d containers for job %s, want 1", len(before), id)
	}

	kill9(t, pa)
	// The script goes on printing while nothing reads its output: the
	// restarted agent must catch up from the engine's log.
	stored := strings.Count(stdoutOf(t, g.c, id, 0), "\n")
	waitFor(t, 20*time.Second, "the script to print two lines nobody read", func() bool {
		return containerStdoutLines(t, before[0].ID) >= stored+2
	})
	pa2 := g.worker(t, a, g.url, 1)
	if now := containers(t, "rgrid.job="+id); len(now) != 1 || now[0].ID != before[0].ID {
		t.Errorf("after the restart: containers %v, want only %s", containerIDs(now), before[0].ID[:12])
	}

	j := waitTerminal(t, g.c, []string{id}, 60*time.Second)[id]
	s := g.status(t, id)
	if j.State != client.StateSucceeded || len(s.Attempts) != 1 || s.Attempts[0].WorkerID != a {
		t.Fatalf("job %s, want succeeded in one attempt on %s; attempts:%s", j.State, a, attemptsSummary(s.Attempts))
	}
	if got := stdoutOf(t, g.c, id, 0); got != countOutput(lines) {
		t.Errorf("stdout:\n%s\nwant every line once:\n%s", got, countOutput(lines))
	}
	if !strings.Contains(pa2.output(), "adopted a run left by an earlier start") {
		t.Errorf("the restarted worker did not say it adopted the run:\n%s", pa2.output())
	}
}

// A worker cut off from the server for longer than the dead-after
// interval, by a peer that refuses connections or by a black hole: its job
// reruns on another worker, its late reports are refused, its container is
// killed before the script would have ended, one result is recorded.
func TestLivenessCutOffWorker(t *testing.T) {
	t.Parallel()
	for _, mode := range []proxyMode{proxyRefused, proxyBlackHole} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			testCutOff(t, mode)
		})
	}
}

func testCutOff(t *testing.T, mode proxyMode) {
	g := newLiveGrid(t, liveOptions{docker: true})
	px := newProxy(t, strings.TrimPrefix(g.url, "http://"))
	a, b := workerID(t, "a"), workerID(t, "b")
	pa := g.worker(t, a, px.url(), 1)
	// Long enough that only a kill ends attempt 1 before the checks below.
	const lines, pause = 30, 500 * time.Millisecond
	id := g.submit(t, "count.py", countPy, fmt.Sprint(lines), fmt.Sprint(pause.Seconds()))
	g.waitRunningOn(t, id, a, 1)
	naturalEnd := time.Now().Add(lines * pause)
	g.worker(t, b, g.url, 1)

	px.set(mode)
	cut := time.Now()
	took := waitFor(t, liveDeadAfter+liveReap+3*time.Second, "the cut-off worker's attempt to end lost", func() bool {
		j := g.job(t, id)
		return len(j.Attempts) > 0 && j.Attempts[0].State == client.StateLost
	})
	t.Logf("attempt 1 ended lost %s after the cut", took.Round(10*time.Millisecond))
	g.waitRunningOn(t, id, b, 2)
	// Still cut off, the worker gives the job up once the server has not
	// acknowledged it for the dead-after interval (it checks at each
	// heartbeat), so that the job does not go on running twice.
	var killedAt time.Time // when attempt 1's container stopped, as the engine says
	waitFor(t, time.Until(cut.Add(liveDeadAfter+liveHeartbeat+2*time.Second)),
		"the cut-off worker to kill attempt 1 while it cannot reach the server", func() bool {
			for _, c := range containers(t, "rgrid.job="+id, "rgrid.attempt=1") {
				if c.State == "running" {
					return false
				}
				killedAt = containerFinishedAt(t, c.ID)
			}
			return true
		})
	// Then let it reach the server again with whatever it still has to say.
	time.Sleep(time.Until(cut.Add(liveDeadAfter + 2*liveHeartbeat)))
	px.set(proxyUp)

	// What the cut-off worker ran for attempt 1 is gone, well before the
	// script would have ended on its own.
	deadline := cut.Add(liveDeadAfter + 5*time.Second)
	if naturalEnd.Sub(deadline) < 2*time.Second {
		t.Fatalf("the script ends too soon (%s after the deadline) to tell a kill from its end", naturalEnd.Sub(deadline))
	}
	waitFor(t, time.Until(deadline), "the cut-off worker's container to be removed", func() bool {
		return len(containers(t, "rgrid.job="+id, "rgrid.attempt=1")) == 0
	})

	// The server refuses anything more about attempt 1.
	ref := client.AttemptRef{JobID: id, Attempt: 1}
	zero := 0
	if _, err := g.c.ReportResult(t.Context(), ref, client.ResultReport{State: client.StateSucceeded, ExitCode: &zero}); !isStale(err) {
		t.Errorf("result for attempt 1 after it was lost: err %v, want 409 %s", err, client.CodeStaleAttempt)
	}
	if _, err := g.c.UploadLogs(t.Context(), ref, client.LogUpload{Chunks: []client.LogChunk{{Attempt: 1, Stream: client.Stdout, Seq: 1000, Data: []byte("late\n")}}}); !isStale(err) {
		t.Errorf("logs for attempt 1 after it was lost: err %v, want 409 %s", err, client.CodeStaleAttempt)
	}

	j := waitTerminal(t, g.c, []string{id}, 60*time.Second)[id]
	s := g.status(t, id)
	if j.State != client.StateSucceeded || j.WorkerID != b || len(s.Attempts) != 2 {
		t.Fatalf("job %s on %s, want succeeded on %s after 2 attempts; attempts:%s", j.State, j.WorkerID, b, attemptsSummary(s.Attempts))
	}
	if at := s.Attempts[0]; at.WorkerID != a || at.State != client.StateLost {
		t.Errorf("attempt 1: %+v, want lost on %s", at, a)
	}
	checkLostTo(t, "attempt 1", s.Attempts[0].Message, a)
	if at := s.Attempts[1]; at.WorkerID != b || at.State != client.StateSucceeded {
		t.Errorf("attempt 2: %+v, want succeeded on %s", at, b)
	}
	if got := stdoutOf(t, g.c, id, 2); got != countOutput(lines) {
		t.Errorf("attempt 2 printed %q, want %q", got, countOutput(lines))
	}
	if got := stdoutOf(t, g.c, id, 1); !strings.HasPrefix(countOutput(lines), got) {
		t.Errorf("attempt 1's stored output %q is not a prefix of the script's output", got)
	}

	// The cut-off worker knows why it gave attempt 1 up.
	waitFor(t, 20*time.Second, "the cut-off worker to give attempt 1 up", func() bool {
		out := pa.output()
		return strings.Contains(out, "has not acknowledged this worker") || strings.Contains(out, "no longer accepts this attempt")
	})
	t.Logf("worker %s after the cut:\n%s", a, grepLines(pa.output(), id))
	// How the worker's own give-up (the waitFor above bounds it) lines up
	// with the rerun: a kill after attempt 2 started means both ran at
	// once for that long.
	if started := s.Attempts[1].StartedAt; started != nil && !killedAt.IsZero() {
		t.Logf("worker %s killed attempt 1 %s after the cut, %s after attempt 2 started on %s",
			a, killedAt.Sub(cut).Round(time.Millisecond), killedAt.Sub(*started).Round(time.Millisecond), b)
	}
}
