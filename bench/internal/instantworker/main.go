// Command instantworker is a bench-only rgrid worker: internal/worker's
// agent, exactly as "rgrid worker" runs it, with an executor whose runs
// end at once (or after -run-time) with exit code 0 and no output. With it
// the queue benchmarks measure the server, the store and the worker
// protocol, not container start-up. It is never shipped: cmd/rgrid has no
// such executor.
//
//	instantworker -server http://127.0.0.1:8080 -worker-id w1 -slots 64 [-run-time 50ms] [-cpuprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/worker"
)

func main() {
	server := flag.String("server", "", "server URL")
	id := flag.String("worker-id", "instant", "worker id")
	slots := flag.Int("slots", 1, "jobs at once")
	runTime := flag.Duration("run-time", 0, "how long each run lasts")
	profile := flag.String("cpuprofile", "", "write a CPU profile here on exit")
	flag.Parse()
	if err := run(*server, *id, *slots, *runTime, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "instantworker:", err)
		os.Exit(1)
	}
}

func run(server, id string, slots int, runTime time.Duration, profile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := benchkit.StartCPUProfile(profile)
	if err != nil {
		return err
	}
	defer stopProfile()
	c, err := client.New(server, "")
	if err != nil {
		return err
	}
	// As rgrid worker sets it up: a text log on stderr, the default limits.
	w, err := worker.New(c, worker.Options{
		ID: id, Slots: slots, Executor: instant{runTime}, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Defaults: executor.Limits{MemoryBytes: 512 << 20, CPUs: 1, Pids: 256, Timeout: 300 * time.Second},
	})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// instant is an executor.Executor whose runs last runTime (zero: they
// have ended by the time Start returns) and exit 0 with no output.
type instant struct{ runTime time.Duration }

func (instant) Name() string { return "instant" }

func (e instant) Start(context.Context, executor.Spec) (executor.Handle, error) {
	h := &handle{end: time.NewTimer(e.runTime), done: make(chan struct{})}
	go func() {
		<-h.end.C
		h.stop(executor.Exited)
	}()
	return h, nil
}

type handle struct {
	end     *time.Timer
	once    sync.Once
	outcome executor.Outcome
	done    chan struct{}
}

func (h *handle) stop(o executor.Outcome) {
	h.once.Do(func() {
		h.outcome = o
		close(h.done)
	})
}

func (h *handle) Wait(ctx context.Context) (executor.Result, error) {
	select {
	case <-h.done:
		return executor.Result{Outcome: h.outcome}, nil
	case <-ctx.Done():
		return executor.Result{}, ctx.Err()
	}
}

func (h *handle) Kill(context.Context) error {
	h.end.Stop()
	h.stop(executor.Killed)
	return nil
}
