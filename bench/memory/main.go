// Command memory measures the resident memory of rgrid's server and worker
// processes, from /proc/PID/status (VmRSS: resident now; VmHWM: the peak):
//
//   - server: a fresh rgrid server on a fresh PostgreSQL database, idle a
//     few seconds after its start; then the same server after 100,000 jobs
//     were submitted to it through the API (no worker takes them).
//   - worker: a fresh "rgrid worker --executor docker --slots 8", idle after
//     registering; then while it runs 8 sleeping jobs in the Python image.
//
// Each run starts new processes.
//
//	go run ./bench/memory -runs 5   # needs RGRID_TEST_POSTGRES_URL and Docker
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
)

var (
	figServerIdle = benchkit.Figure{Name: "mem.server.idle", Unit: "MiB",
		Desc: "rgrid server (PostgreSQL) VmRSS, idle after start"}
	figServerQueued = benchkit.Figure{Name: "mem.server.queued", Unit: "MiB",
		Desc: "rgrid server VmRSS with 100,000 queued jobs, after submitting them through the API"}
	figServerQueuedPeak = benchkit.Figure{Name: "mem.server.queued.peak", Unit: "MiB",
		Desc: "rgrid server VmHWM (peak) while the 100,000 jobs were submitted"}
	figWorkerIdle = benchkit.Figure{Name: "mem.worker.idle", Unit: "MiB",
		Desc: "rgrid worker (docker, 8 slots) VmRSS, idle after registering"}
	figWorkerBusy = benchkit.Figure{Name: "mem.worker.running8", Unit: "MiB",
		Desc: "rgrid worker VmRSS while running 8 sleeping Python jobs"}
	figWorkerBusyPeak = benchkit.Figure{Name: "mem.worker.running8.peak", Unit: "MiB",
		Desc: "rgrid worker VmHWM (peak) up to then"}
)

// settle is how long a process is left alone before it is measured.
const settle = 3 * time.Second

type options struct {
	runs, queued, submitters int
	image                    string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", benchkit.Runs(5), "runs (new processes each)")
	flag.IntVar(&o.queued, "queued", benchkit.Pick(100_000, 10_000), "jobs queued on the server")
	flag.IntVar(&o.submitters, "submitters", 16, "concurrent submissions")
	flag.StringVar(&o.image, "image", "rgrid-test/python:3.11", "Python image (needs python3.11)")
	flag.Parse()
	benchkit.Main("memory", 15*time.Minute, func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	k, err := benchkit.New("rgrid-bench-memory-", o.image)
	if err != nil {
		return err
	}
	defer k.Close()
	if o.queued != 100_000 { // another figure: name it so
		figServerQueued.Name = fmt.Sprintf("mem.server.queued-%d", o.queued)
		figServerQueued.Desc = fmt.Sprintf("rgrid server VmRSS with %d queued jobs, after submitting them through the API", o.queued)
		figServerQueuedPeak.Name = figServerQueued.Name + ".peak"
		figServerQueuedPeak.Desc = fmt.Sprintf("rgrid server VmHWM (peak) while the %d jobs were submitted", o.queued)
	}
	for i := range o.runs {
		if err := serverRun(ctx, k, o); err != nil {
			return fmt.Errorf("server run %d: %w", i+1, err)
		}
	}
	// The workers' server: one for all runs.
	api, _, _, err := k.ServerPG(ctx, "rgrid_bench_memory_w", "")
	if err != nil {
		return err
	}
	for i := range o.runs {
		if err := workerRun(ctx, k, api, fmt.Sprintf("bench-memory-%d", i+1)); err != nil {
			return fmt.Errorf("worker run %d: %w", i+1, err)
		}
	}
	return nil
}

func serverRun(ctx context.Context, k *benchkit.Kit, o options) error {
	api, _, p, err := k.ServerPG(ctx, "rgrid_bench_memory", "")
	if err != nil {
		return err
	}
	defer p.Stop(10 * time.Second)
	idle, err := settled(ctx, p)
	if err != nil {
		return err
	}
	c, err := client.New(api, "")
	if err != nil {
		return err
	}
	t := time.Now()
	if err := benchkit.Submit(ctx, c, o.queued, o.submitters, func(int) client.SubmitRequest {
		return client.SubmitRequest{FileName: "noop.py", Script: []byte("pass\n")}
	}); err != nil {
		return err
	}
	took := time.Since(t)
	queued, err := settled(ctx, p)
	if err != nil {
		return err
	}
	fmt.Printf("server: idle %.1f MiB; %d jobs submitted in %.1f s; then %.1f MiB (peak %.1f MiB)\n",
		benchkit.MiB(idle.RSS), o.queued, took.Seconds(), benchkit.MiB(queued.RSS), benchkit.MiB(queued.HWM))
	figServerIdle.Report(benchkit.MiB(idle.RSS))
	figServerQueued.Report(benchkit.MiB(queued.RSS))
	figServerQueuedPeak.Report(benchkit.MiB(queued.HWM))
	return nil
}

func workerRun(ctx context.Context, k *benchkit.Kit, api, id string) error {
	_, p, err := k.Start(benchkit.Registered, "worker", "--server", api, "--executor", "docker", "--worker-id", id, "--slots", "8")
	if err != nil {
		return err
	}
	defer benchkit.RemoveContainers(id)
	defer p.Stop(30 * time.Second)
	idle, err := settled(ctx, p)
	if err != nil {
		return err
	}
	c, err := client.New(api, "")
	if err != nil {
		return err
	}
	var ids []string
	defer func() {
		// Cancel whatever was submitted, so the worker drains at once.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, id := range ids {
			_, _ = c.Cancel(cctx, id)
		}
		for _, id := range ids {
			_ = waitJob(cctx, c, id, func(j client.Job) bool { return j.State.Terminal() })
		}
	}()
	for range 8 {
		j, err := c.Submit(ctx, client.SubmitRequest{FileName: "sleep.py", Script: []byte("import time\ntime.sleep(300)\n")})
		if err != nil {
			return err
		}
		ids = append(ids, j.ID)
	}
	for _, jid := range ids {
		if err := waitJob(ctx, c, jid, func(j client.Job) bool { return j.State == client.StateRunning && j.WorkerID == id }); err != nil {
			return err
		}
	}
	busy, err := settled(ctx, p)
	if err != nil {
		return err
	}
	fmt.Printf("worker %s: idle %.1f MiB; running 8 jobs %.1f MiB (peak %.1f MiB)\n",
		id, benchkit.MiB(idle.RSS), benchkit.MiB(busy.RSS), benchkit.MiB(busy.HWM))
	figWorkerIdle.Report(benchkit.MiB(idle.RSS))
	figWorkerBusy.Report(benchkit.MiB(busy.RSS))
	figWorkerBusyPeak.Report(benchkit.MiB(busy.HWM))
	return nil
}

// waitJob polls a job every 100 ms, for at most two minutes, until cond.
func waitJob(ctx context.Context, c *client.Client, id string, cond func(client.Job) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		j, err := c.Job(ctx, id)
		if err == nil && cond(j) {
			return nil
		}
		if err == nil && j.State.Terminal() {
			return fmt.Errorf("job %s ended %s: %s", id, j.State, j.Message)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("job %s: %w", id, err)
		}
	}
}

// settled leaves p alone for settle, then reads its memory.
func settled(ctx context.Context, p *benchkit.Proc) (benchkit.Mem, error) {
	if err := sleep(ctx, settle); err != nil {
		return benchkit.Mem{}, err
	}
	return benchkit.ReadMem(p.Process.Pid)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
