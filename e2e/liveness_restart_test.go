package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testdb"
)

// Restart the server twice (SIGTERM, then SIGKILL) on the same address
// while jobs run: no job is queued again and no line of output is lost or
// stored twice.
func TestLivenessServerRestart(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	// Dead after 8 s: the workers keep their jobs while the server is
	// away for a second or two.
	g := newLiveGrid(t, liveOptions{server: []string{"--listen", addr, "--dead-after", "8s"}})
	for _, name := range []string{"a", "b"} {
		g.worker(t, workerID(t, name), g.url, 2)
	}
	const jobs, lines = 4, 50
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = g.submit(t, "count.sh", countSh, fmt.Sprint(lines), "0.25")
	}
	for _, id := range ids {
		g.waitOutput(t, id, "line 2\n", 30*time.Second)
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := syscall.Kill(g.server.cmd.Process.Pid, sig); err != nil {
			t.Fatal(err)
		}
		down := time.Now()
		if code := waitExit(t, g.server, 15*time.Second); sig == syscall.SIGTERM && code != 0 {
			t.Errorf("server exited %d after SIGTERM, want 0", code)
		}
		// Away long enough for heartbeats, log uploads and a result or
		// two to fail and be retried.
		time.Sleep(time.Until(down.Add(3 * time.Second)))
		var url string
		g.server, url = startServer(t, g.env, g.db, g.args...)
		if url != g.url {
			t.Fatalf("the new server listens on %s, want %s", url, g.url)
		}
		t.Logf("server down for %s after %s", time.Since(down).Round(time.Millisecond), sig)
		// Let the jobs print a few lines through the new server.
		for _, id := range ids {
			n := strings.Count(stdoutOf(t, g.c, id, 0), "\n")
			g.waitOutput(t, id, fmt.Sprintf("line %d\n", min(n+3, lines)), 30*time.Second)
		}
	}

	done := waitTerminal(t, g.c, ids, 60*time.Second)
	for _, id := range ids {
		j := g.job(t, id)
		if done[id].State != client.StateSucceeded || len(j.Attempts) != 1 {
			t.Errorf("job %s: %s, want succeeded in one attempt; attempts:%s", id, done[id].State, attemptsSummary(j.Attempts))
		}
		if got := stdoutOf(t, g.c, id, 0); got != countOutput(lines) {
			t.Errorf("job %s printed:\n%s\nwant every line once:\n%s", id, got, countOutput(lines))
		}
	}
}

// freeAddr returns a loopback address nothing listens on, for a server that
// must come back on the same address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Stop and restart PostgreSQL under running jobs: while it is down the API
// answers 503 with Retry-After; afterwards every job has one attempt, one
// result and its whole output, nothing stored twice.
func TestLivenessPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := testdb.OwnCluster(t)
	// Dead after 10 s: the outage must not look like dead workers.
	g := newLiveGrid(t, liveOptions{db: pg.URL(), server: []string{"--dead-after", "10s"}})
	g.worker(t, workerID(t, "a"), g.url, 3)
	const jobs, lines = 3, 40
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = g.submit(t, "count.sh", countSh, fmt.Sprint(lines), "0.25")
	}
	for _, id := range ids {
		g.waitOutput(t, id, "line 2\n", 30*time.Second)
	}

	pg.Stop(t)
	stopped := time.Now()
	waitFor(t, 10*time.Second, "a 503 with Retry-After while PostgreSQL is down", func() bool {
		resp, err := http.Get(g.url + "/v1/jobs/" + ids[0])
		if err != nil {
			t.Fatalf("the API does not answer while the database is down: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if ra := resp.Header.Get("Retry-After"); ra == "" {
				t.Errorf("503 without Retry-After")
			}
			return true
		}
		t.Logf("database down, GET job: %d", resp.StatusCode)
		return false
	})
	// Down long enough for the workers' uploads and heartbeats to fail
	// and be retried.
	time.Sleep(time.Until(stopped.Add(2 * time.Second)))
	pg.Start(t)
	t.Logf("PostgreSQL was down for %s", time.Since(stopped).Round(time.Millisecond))
	for _, id := range ids {
		n := strings.Count(stdoutOf(t, g.c, id, 0), "\n")
		g.waitOutput(t, id, fmt.Sprintf("line %d\n", min(n+3, lines)), 30*time.Second)
	}
	// And once more as an operator would: pg_ctl restart -m fast.
	pg.Restart(t)

	done := waitTerminal(t, g.c, ids, 60*time.Second)
	for _, id := range ids {
		j := g.job(t, id)
		if done[id].State != client.StateSucceeded || len(j.Attempts) != 1 {
			t.Errorf("job %s: %s, want succeeded in one attempt; attempts:%s", id, done[id].State, attemptsSummary(j.Attempts))
		}
		if got := stdoutOf(t, g.c, id, 0); got != countOutput(lines) {
			t.Errorf("job %s printed:\n%s\nwant every line once:\n%s", id, got, countOutput(lines))
		}
	}
}
