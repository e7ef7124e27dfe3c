// Command failover measures how long a job waits after its worker dies: the
// seconds from kill -9 of a Docker worker running the job to the job running
// again (attempt 2 started) on another worker, with the server's default
// liveness settings (heartbeat 5 s, dead after 15 s, reaper every 2 s);
// median of N kills.
//
//	go run ./bench/failover -n 5 -image rgrid-test/python:3.11
//
// Each round starts a fresh worker, gives it a long job, starts an idle
// standby worker, kills the first one's process group with SIGKILL and
// polls the job every 100 ms. The first kill waits until the server has run
// for one dead-after interval: a server gives every worker that long after
// its own start before declaring any dead. Each kill prints its sample as a
// RESULT line (bench/README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
)

const deadAfter = 15 * time.Second // the server's default --dead-after

var figFailover = benchkit.Figure{Name: "failover", Unit: "s", Target: "<=20",
	Desc: "kill -9 of a docker worker to its job running on another (defaults: heartbeat 5 s, dead after 15 s)"}

func main() {
	n := flag.Int("n", benchkit.Runs(5), "kills to measure")
	image := flag.String("image", "rgrid-test/python:3.11", "Python image (needs python3.11)")
	db := flag.String("db", "", "server database (default: a SQLite file in a temporary directory)")
	flag.Parse()
	benchkit.Main("failover", 15*time.Minute, func(ctx context.Context) error { return run(ctx, *n, *image, *db) })
}

type bench struct {
	*benchkit.Kit
	c       *client.Client
	url     string
	workers []string
}

func run(ctx context.Context, n int, image, db string) error {
	k, err := benchkit.New("rgrid-bench-failover-", image)
	if err != nil {
		return err
	}
	b := &bench{Kit: k}
	defer b.cleanup()
	if db == "" {
		db = filepath.Join(k.Dir, "rgrid.db")
	}

	// Default liveness settings: no --heartbeat-interval, --dead-after or
	// --reap-interval.
	addr, _, err := b.Start(benchkit.Listening, "server", "--listen", "127.0.0.1:0", "--db", db, "--migrate")
	if err != nil {
		return err
	}
	serverUp := time.Now()
	b.url = "http://" + addr
	if b.c, err = client.New(b.url, ""); err != nil {
		return err
	}

	script := []byte("import time\nprint('working', flush=True)\ntime.sleep(600)\n")
	var samples []time.Duration
	for i := range n {
		victim, standby := fmt.Sprintf("bench-victim-%d", i), fmt.Sprintf("bench-standby-%d", i)
		_, vp, err := b.worker(victim)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		j, err := b.c.Submit(ctx, client.SubmitRequest{FileName: "long.py", Script: script})
		if err != nil {
			cancel()
			return err
		}
		if err := b.waitFor(ctx, j.ID, func(j client.Job) bool {
			return j.State == client.StateRunning && j.Attempt == 1 && j.WorkerID == victim
		}); err != nil {
			cancel()
			return fmt.Errorf("job on %s: %w", victim, err)
		}
		_, sp, err := b.worker(standby)
		if err != nil {
			cancel()
			return err
		}
		if wait := time.Until(serverUp.Add(deadAfter)); wait > 0 {
			fmt.Printf("waiting %s: the server declares no worker dead in its first %s\n", wait.Round(time.Second), deadAfter)
			select {
			case <-ctx.Done():
				cancel()
				return ctx.Err()
			case <-time.After(wait):
			}
		}

		_ = syscall.Kill(-vp.Process.Pid, syscall.SIGKILL)
		killed := time.Now()
		err = b.waitFor(ctx, j.ID, func(j client.Job) bool {
			return j.State == client.StateRunning && j.Attempt == 2 && j.WorkerID == standby
		})
		took := time.Since(killed)
		if err != nil {
			cancel()
			return fmt.Errorf("job after kill -9 of %s: %w", victim, err)
		}
		samples = append(samples, took)
		fmt.Printf("kill %d: running again on %s after %.1f s\n", i+1, standby, took.Seconds())
		figFailover.Report(took.Seconds())
		// Clear the stage: the next job must go to the next victim.
		_, _ = b.c.Cancel(ctx, j.ID)
		_ = b.waitFor(ctx, j.ID, func(j client.Job) bool { return j.State.Terminal() })
		cancel()
		_ = syscall.Kill(-sp.Process.Pid, syscall.SIGKILL)
		benchkit.RemoveContainers(victim) // the killed worker's container ran on
		benchkit.RemoveContainers(standby)
	}
	fmt.Printf("kill -9 of a worker → its job running again on another worker (defaults: heartbeat 5 s, dead after 15 s, reaper every 2 s; docker, %s)\n", image)
	fmt.Printf("median %.1f s over %d kills (min %.1f s, max %.1f s); samples:", benchkit.Median(samples).Seconds(), n,
		slices.Min(samples).Seconds(), slices.Max(samples).Seconds())
	for _, s := range samples {
		fmt.Printf(" %.1f", s.Seconds())
	}
	fmt.Println()
	return nil
}

// worker starts a Docker worker and waits until it has registered.
func (b *bench) worker(id string) (string, *benchkit.Proc, error) {
	b.workers = append(b.workers, id)
	_, c, err := b.Start(benchkit.Registered, "worker", "--server", b.url, "--executor", "docker",
		"--worker-id", id, "--slots", "1")
	return id, c, err
}

// waitFor polls the job every 100 ms until cond holds.
func (b *bench) waitFor(ctx context.Context, id string, cond func(client.Job) bool) error {
	for {
		j, err := b.c.Job(ctx, id)
		if err == nil && cond(j) {
			return nil
		}
		if err == nil && j.State.Terminal() && !cond(j) {
			return fmt.Errorf("job ended %s: %s", j.State, j.Message)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *bench) cleanup() {
	b.Close()
	for _, w := range b.workers {
		benchkit.RemoveContainers(w)
	}
}
