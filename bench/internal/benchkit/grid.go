package benchkit

import (
	"context"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/client"
)

// BenchWorker is the id of the worker DockerGrid starts.
const BenchWorker = "bench"

// warmSettle is more than the worker's delay in reporting a change in its
// count of warm containers (internal/worker's warmReportDelay, 100 ms)
// and the request that carries it.
const warmSettle = 300 * time.Millisecond

// DockerGrid starts a server on the SQLite file db and a Docker worker
// registered with it, and returns the server's URL, k.Env with
// RGRID_SERVER pointing at it, and a client of it. workerArgs go to the
// worker's command line (e.g. --warm 1).
func (k *Kit) DockerGrid(db string, workerArgs ...string) (string, []string, *client.Client, error) {
	addr, _, err := k.Start(Listening, "server", "--listen", "127.0.0.1:0", "--db", db, "--migrate")
	if err != nil {
		return "", nil, nil, err
	}
	url := "http://" + addr
	args := append([]string{"worker", "--server", url, "--executor", "docker", "--worker-id", BenchWorker}, workerArgs...)
	if _, _, err := k.Start(Registered, args...); err != nil {
		return "", nil, nil, err
	}
	c, err := client.New(url, "")
	if err != nil {
		return "", nil, nil, err
	}
	return url, append(k.Env, "RGRID_SERVER="+url), c, nil
}

// LastStart is the start times of the newest job's last attempt: the run
// a bench just made.
func LastStart(ctx context.Context, c *client.Client) (client.StartTimes, error) {
	l, err := c.Jobs(ctx, client.ListOptions{Limit: 1})
	if err != nil || len(l.Jobs) != 1 {
		return client.StartTimes{}, fmt.Errorf("list the jobs: %v (%d)", err, len(l.Jobs))
	}
	j, err := c.Job(ctx, l.Jobs[0].ID)
	if err != nil || len(j.Attempts) == 0 || j.Attempts[len(j.Attempts)-1].Start == nil {
		return client.StartTimes{}, fmt.Errorf("job %s has no start times (%v)", l.Jobs[0].ID, err)
	}
	return *j.Attempts[len(j.Attempts)-1].Start, nil
}

// AwaitWarm waits until the server says the worker id has a warm
// container waiting, so that a bench of warm starts does not time a cold
// one: a worker whose pool is off (see its log) fails the bench after
// within instead of reporting cold figures as warm.
//
// The worker reports a change in its count about 100 ms after it (then
// at most once a second), so a count read right after a run may not have
// the run's own take of a container in it yet: only counts read
// warmSettle after the call are believed.
func AwaitWarm(ctx context.Context, c *client.Client, id string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(warmSettle):
	}
	for {
		ws, err := c.Workers(ctx)
		if err == nil {
			for _, w := range ws {
				if w.ID == id && w.Warm > 0 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("worker %s has no warm container waiting after %s (%v): is its pool off? its log says why", id, within, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
