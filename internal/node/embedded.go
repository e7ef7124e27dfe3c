package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/scheduler"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/worker"
)

// EmbeddedConfig is a grid inside this process: a server on a loopback
// port over the SQLite file of the data directory, and maybe a worker.
type EmbeddedConfig struct {
	DataDir  string
	Runtimes *runtimes.Table
	// Server are the embedded server's settings; MaxAttempts is set here.
	Server ServerOptions
	// Worker, when set, runs jobs in this process (rgrid run); without
	// one the grid only answers (rgrid status, logs, list, … with no
	// server anywhere).
	Worker *EmbeddedWorker
}

// EmbeddedWorker is the executor of an embedded grid's worker.
type EmbeddedWorker struct {
	Executor string // "", "docker" or "process": "" is Docker when it answers, else the host
	Defaults Limits
	Docker   DockerOptions
}

// embeddedName is the name every embedded rgrid run's worker registers
// under; SweepGone finds the gone ones by it.
const embeddedName = "embedded"

// Embedded is a running embedded grid.
type Embedded struct {
	client  *client.Client
	store   store.Store
	server  *server.Server
	api     *api
	lock    *worker.IDLock // rgrid dev's worker id
	dataDir string

	workerID     string
	run          *startstop.FuncService // the worker's Run; nil without a worker
	deleteWorker bool                   // on Stop: an embedded rgrid run's worker is never seen again
	notice       string

	mu        sync.Mutex
	workerErr error
	stopOnce  sync.Once
}

// StartEmbedded opens the data directory's database (migrating it: it is
// the user's own file), serves the API on a loopback port and, with
// c.Worker, starts a worker of one slot. It first settles what embedded
// runs killed before they could stop their jobs left (SweepGone). Stop it
// when done: its worker first finishes what it leased.
func StartEmbedded(ctx context.Context, c EmbeddedConfig) (*Embedded, error) {
	opts := c.Server
	// An embedded grid lives and dies with its command, so a job whose
	// embedded worker was lost (its rgrid run was killed) ends lost
	// rather than queueing again, where the next embedded rgrid run would
	// lease and run it before its own job.
	opts.MaxAttempts = 1
	g, err := openEmbedded(ctx, c.DataDir, c.Runtimes, "127.0.0.1:0", opts)
	if err != nil {
		return nil, err
	}
	if c.Worker == nil {
		return g, nil
	}
	id := embeddedName + "-" + randomSuffix()
	ex, notice, err := chooseExecutor(ctx, executorChoice{name: c.Worker.Executor, embedded: true, workerID: id, docker: c.Worker.Docker})
	if err != nil {
		g.Stop()
		return nil, err
	}
	g.notice = notice
	g.sweepGone(ctx, dockerOf(ex))
	g.deleteWorker = true
	if err := g.startWorker(ctx, worker.Options{ID: id, Name: embeddedName, Slots: 1, Executor: ex, Defaults: c.Worker.Defaults}); err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

// openEmbedded opens the database in dataDir and serves it on addr.
func openEmbedded(ctx context.Context, dataDir string, rt *runtimes.Table, addr string, opts ServerOptions) (*Embedded, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, usageErr("set RGRID_DATA_DIR to a writable directory", "create the data directory: %v", err)
	}
	st, err := database.Open(ctx, filepath.Join(dataDir, "rgrid.db"), database.Options{Migrate: true})
	if err != nil {
		return nil, dbError(err)
	}
	if opts.Blobs, _, err = openBlobs(ctx, "", filepath.Join(dataDir, "blobs")); err != nil {
		st.Close()
		return nil, err
	}
	ln, err := listen(addr)
	if err != nil {
		st.Close()
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	if opts.Secrets == nil {
		opts.Secrets = besideDB(filepath.Join(dataDir, secretKeyName), log)
	}
	srv := server.New(st, rt, log, opts)
	c, err := client.New("http://"+ln.Addr().String(), opts.Token)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	g := &Embedded{client: c, store: st, server: srv, api: newAPI(ln, srv.Handler()), dataDir: dataDir}
	// The grid's services outlive the command's context: Stop ends them,
	// in order (a canceled command still lets its worker report).
	bg := context.WithoutCancel(ctx)
	_ = g.api.Start(bg)
	_ = srv.Start(bg)
	return g, nil
}

// startWorker runs a worker with opts against the grid's API until Stop.
func (g *Embedded) startWorker(ctx context.Context, opts worker.Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	fileOptions(&opts, g.dataDir, opts.Executor)
	w, err := worker.New(g.client, opts)
	if err != nil {
		return err
	}
	g.workerID = opts.ID
	g.run = startstop.Func(func(ctx context.Context) {
		defer closeExecutor(opts.Executor)
		if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.mu.Lock()
			g.workerErr = err
			g.mu.Unlock()
		}
	})
	return g.run.Start(context.WithoutCancel(ctx))
}

// Client reaches the grid's API.
func (g *Embedded) Client() *client.Client { return g.client }

// Notice is the one line to show the user about the executor (the jobs
// run on the host without isolation, and why), or "".
func (g *Embedded) Notice() string { return g.notice }

// WorkerStopped is closed when the grid's worker has stopped (after Stop,
// or on its own: WorkerErr says why); nil without a worker.
func (g *Embedded) WorkerStopped() <-chan struct{} {
	if g.run == nil {
		return nil
	}
	return g.run.Stopped()
}

// WorkerErr is why the worker stopped on its own, or nil.
func (g *Embedded) WorkerErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.workerErr
}

// Stop stops the grid and waits for it: the worker drains (it finishes
// and reports what it leased), then the API and the reaper stop, then the
// database is closed.
func (g *Embedded) Stop() {
	g.stopOnce.Do(func() {
		if g.run != nil {
			g.run.Stop()
			if g.deleteWorker {
				// Keep the data directory's list of workers to the live
				// ones. (Still holding a job, it stays for the next run
				// to settle.)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = g.server.DeleteWorker(ctx, g.workerID)
				cancel()
			}
		}
		g.api.Stop()
		g.server.Stop()
		if g.lock != nil {
			g.lock.Close()
		}
		_ = g.store.Close()
	})
}

// sweepGone settles what the data directory's gone embedded workers left:
// their rgrid run was killed (kill -9) before it could stop its job, once
// silent for the server's dead-after. Their jobs end lost now, with a
// message saying so, rather than when a reaper gets to them; their
// containers (d: this run's Docker executor, nil without Docker) are
// removed, as nothing else would stop them: a job's time limit runs in
// its worker. The sweep is a courtesy: failures are ignored.
func (g *Embedded) sweepGone(ctx context.Context, d *docker.Executor) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ids, _ := g.server.SweepGone(ctx, scheduler.GoneParams{
		Name: embeddedName, After: g.server.Options().DeadAfter,
		Message: func(id string, last time.Time) string {
			return fmt.Sprintf("the rgrid run that ran it (worker %s) was killed before the job ended; last heard from at %s",
				id, last.Local().Format(time.TimeOnly))
		},
	})
	if d != nil && len(ids) > 0 {
		gone := map[string]bool{}
		for _, id := range ids {
			gone[id] = true
		}
		_, _ = d.RemoveGone(ctx, func(id string) bool { return gone[id] })
	}
}

// dockerOf returns the Docker executor inside ex, or nil.
func dockerOf(ex executor.Executor) *docker.Executor {
	switch x := ex.(type) {
	case *docker.Executor:
		return x
	case *imageFallback:
		return x.docker
	case recoveringFallback:
		return x.docker
	}
	return nil
}

// DevConfig is what rgrid dev keeps running.
type DevConfig struct {
	DataDir  string
	Listen   string
	Slots    int
	Runtimes *runtimes.Table
	Server   ServerOptions
	Worker   EmbeddedWorker
}

// devState is what rgrid dev leaves in the data directory so that other
// commands find it.
type devState struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// DevStatePath is where rgrid dev says where it serves.
func DevStatePath(dataDir string) string { return filepath.Join(dataDir, "dev.json") }

// DevURL returns the address of the data directory's running rgrid dev,
// if one answers, else "".
func DevURL(ctx context.Context, dataDir string) string {
	b, err := os.ReadFile(DevStatePath(dataDir))
	if err != nil {
		return ""
	}
	var st devState
	if json.Unmarshal(b, &st) != nil || st.URL == "" {
		return ""
	}
	c, err := client.New(st.URL, "")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := c.Health(ctx); err != nil {
		return ""
	}
	return st.URL
}

// RunDev serves an embedded grid with a worker of c.Slots on c.Listen
// until ctx ends (then the worker drains), and says where it serves in
// the data directory for the other commands. ready is called once it
// serves, with its URL and the executor's notice (or "").
func RunDev(ctx context.Context, c DevConfig, ready func(url, notice string)) error {
	if url := DevURL(ctx, c.DataDir); url != "" {
		return usageErr("use it, or stop it first", "rgrid dev is already running at %s", url)
	}
	// rgrid dev needs no token: every caller is an admin, so it serves
	// this machine alone.
	if c.Listen != "" && !isLoopback(c.Listen) {
		return usageErr("keep --listen on 127.0.0.1; for other machines run rgrid server with tokens and TLS (the README's \"Running a real grid\")",
			"rgrid dev takes no tokens, so it serves only on loopback, not on %s", c.Listen)
	}
	g, err := openEmbedded(ctx, c.DataDir, c.Runtimes, c.Listen, c.Server)
	if err != nil {
		return err
	}
	defer g.Stop()
	// One rgrid dev runs per data directory at a time, so its worker
	// keeps one id there: restarted after a crash or a kill -9, it adopts
	// the containers its jobs still run in rather than leaving them to
	// run on while the jobs go elsewhere.
	id, err := keptID(c.DataDir, "dev-worker-id", "dev")
	if err != nil {
		return err
	}
	// Its own lock too, so that no rgrid worker given this id runs beside
	// it; and a restarted rgrid dev carries on with its instance, which
	// its server still knows.
	if g.lock, err = lockWorkerID(c.DataDir, id); err != nil {
		return err
	}
	ex, notice, err := chooseExecutor(ctx, executorChoice{name: c.Worker.Executor, embedded: true, workerID: id, docker: c.Worker.Docker})
	if err != nil {
		return err
	}
	if err := g.startWorker(ctx, worker.Options{ID: id, Name: "dev", Slots: c.Slots, Executor: recovering(ex),
		Defaults: c.Worker.Defaults, Instance: g.lock.Instance}); err != nil {
		return usageErr("check rgrid dev's flags", "%v", err)
	}
	b, _ := json.Marshal(devState{URL: g.client.BaseURL(), PID: os.Getpid()})
	if err := os.WriteFile(DevStatePath(c.DataDir), b, 0o600); err != nil {
		return usageErr("set RGRID_DATA_DIR to a writable directory", "write %s: %v", DevStatePath(c.DataDir), err)
	}
	defer os.Remove(DevStatePath(c.DataDir))
	ready(g.client.BaseURL(), notice)
	select {
	case <-ctx.Done():
	case <-g.WorkerStopped():
	}
	g.Stop()
	return g.WorkerErr()
}
