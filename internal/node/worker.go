package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/worker"
)

// WorkerConfig is what rgrid worker runs.
type WorkerConfig struct {
	Server, Token string
	// CACert is a PEM file of the CA that signed the server's
	// certificate, trusted instead of the system roots; "" for those.
	CACert string
	// ID is the worker's; "" takes the one kept in the data directory
	// (made on the first start).
	ID       string
	Name     string // display name; "" is the host name
	Slots    int
	Executor string // "", "docker" or "process"
	Defaults Limits // for a job that sets no limit of its own
	Max      Limits // the most a job may ask of this worker
	// MaxLogBytes caps the output of a job that carries no log limit.
	MaxLogBytes int64
	// MaxOutputFiles and MaxOutputBytes cap what is collected of a job's
	// outputs (0: 10,000 files, 1 GiB).
	MaxOutputFiles int
	MaxOutputBytes int64
	Docker         DockerOptions
	Log            *slog.Logger
	// Abort, when closed, stops the running jobs at once (they are handed
	// back to the queue) instead of letting a drain finish them.
	Abort <-chan struct{}
	// MetricsListen, when set, is the address the worker's own metrics
	// are served on (GET /metrics, no authentication).
	MetricsListen string
	// Pricing is what the worker costs (nil: unpriced). Its CPUs and
	// memory, when zero, are this machine's.
	Pricing *client.Pricing
}

// RunWorker registers with the server and works until ctx ends, then
// drains: no new jobs, running ones finish. A second process on the same
// worker id in this data directory is refused before it touches anything.
func RunWorker(ctx context.Context, c WorkerConfig) error {
	if c.Server == "" {
		return usageErr("pass --server http://HOST:8080 or set RGRID_SERVER", "no server given")
	}
	cl, err := NewClient(c.Server, c.Token, c.CACert)
	if err != nil {
		return err
	}
	dir, dirErr := config.DataDir()
	explicitID := c.ID != ""
	if !explicitID {
		if dirErr != nil {
			return usageErr("pass --worker-id, or set RGRID_DATA_DIR", "%v", dirErr)
		}
		if c.ID, err = persistentWorkerID(dir); err != nil {
			return err
		}
	}
	// Before the executor starts: a second process on this id must not
	// touch the first one's containers.
	lock, err := (*worker.IDLock)(nil), dirErr
	if dirErr == nil {
		lock, err = lockWorkerID(dir, c.ID)
	}
	var instance string
	switch {
	case err == nil:
		defer lock.Close()
		instance = lock.Instance
	case errors.As(err, new(*Error)):
		return err
	case explicitID:
		// An id given on the command line needs no data directory; the
		// server still refuses a second live process on it.
		c.Log.Warn("no data directory to lock the worker id in; two processes on this machine with this id are refused only by the server", "err", err)
	default:
		return usageErr("set RGRID_DATA_DIR to a writable directory, or pass --worker-id", "lock the worker id: %v", err)
	}
	ex, _, err := chooseExecutor(ctx, executorChoice{name: c.Executor, workerID: c.ID, log: c.Log, docker: c.Docker})
	if err != nil {
		return err
	}
	defer closeExecutor(ex)
	if ex.Name() == "process" {
		c.Log.Warn("executor process: jobs run on this machine as this user, with rlimits but no isolation")
	}
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	wo := worker.Options{
		ID: c.ID, Name: c.Name, Slots: c.Slots, Executor: ex, Log: c.Log,
		Defaults: c.Defaults, Max: c.Max, MaxLogBytes: c.MaxLogBytes, Instance: instance,
		MaxOutputFiles: c.MaxOutputFiles, MaxOutputBytes: c.MaxOutputBytes,
		Pricing: machinePricing(c.Pricing),
	}
	if dirErr == nil {
		fileOptions(&wo, dir, ex)
	} else {
		fileOptions(&wo, "", ex)
	}
	w, err := worker.New(cl, wo)
	if err != nil {
		return usageErr("check the worker's flags", "%v", err)
	}
	if c.MetricsListen != "" {
		stop, err := serveWorkerMetrics(ctx, c.MetricsListen, w, c.Log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if c.Abort != nil {
		aborter := startstop.Func(func(ctx context.Context) {
			select {
			case <-c.Abort:
				c.Log.Warn("second signal: stopping running jobs now")
				w.Abort()
			case <-ctx.Done():
			}
		})
		_ = aborter.Start(context.WithoutCancel(ctx))
		defer aborter.Stop()
	}
	return w.Run(ctx)
}

// serveWorkerMetrics serves the worker's metrics on addr until the
// returned stop is called. The listener has no authentication: on an
// address other machines reach, anyone there reads them, which is
// warned of.
func serveWorkerMetrics(ctx context.Context, addr string, w *worker.Worker, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, platformErr("choose another address with --metrics-listen, or stop what uses it", "listen on %s for metrics: %v", addr, err)
	}
	if !loopback(ln.Addr()) {
		log.Warn("worker metrics are served without authentication on an address other machines may reach; keep --metrics-listen on loopback, or firewall it", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.Metrics(), promhttp.HandlerOpts{}))
	a := newAPI(ln, mux)
	_ = a.Start(context.WithoutCancel(ctx)) // an api always starts
	log.Info("worker metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	return a.Stop, nil
}
