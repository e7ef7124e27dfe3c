package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/executor/docker"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/worker"
)

// A session is a connection to a server: a remote one, a local "rgrid dev",
// or one started inside this process (embedded mode).
type session struct {
	c     *client.Client
	local *localGrid // nil unless embedded
}

// close stops an embedded grid; its worker first finishes what it leased.
func (s *session) close() {
	if s.local != nil {
		s.local.close()
	}
}

// connect picks the server: --server / RGRID_SERVER / config file, else a
// running "rgrid dev", else an embedded one. withWorker starts an embedded
// worker (for rgrid run). Several embedded rgrid processes may share the
// database; each keeps its worker until its own job has ended, so every
// queued job always has a worker, and one may run another's job before it
// exits.
func (e *env) connect(ctx context.Context, withWorker bool, exec execOptions) (*session, error) {
	if e.server != "" {
		c, err := client.New(e.server, e.token)
		if err != nil {
			return nil, userErr("pass a URL like http://127.0.0.1:8080 with --server or RGRID_SERVER", "%v", err)
		}
		return &session{c: c}, nil
	}
	dataDir, err := config.DataDir()
	if err != nil {
		return nil, userErr("set RGRID_DATA_DIR or pass --server", "%v", err)
	}
	if url := devServerURL(ctx, dataDir); url != "" {
		c, err := client.New(url, "")
		if err != nil {
			return nil, err
		}
		return &session{c: c}, nil
	}
	l, err := e.startLocal(ctx, dataDir, withWorker, exec)
	if err != nil {
		return nil, err
	}
	return &session{c: l.client, local: l}, nil
}

// devState is what "rgrid dev" leaves in the data directory so that other
// commands find it.
type devState struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

func devStatePath(dataDir string) string { return filepath.Join(dataDir, "dev.json") }

// devServerURL returns the address of a running "rgrid dev", if one answers.
func devServerURL(ctx context.Context, dataDir string) string {
	b, err := os.ReadFile(devStatePath(dataDir))
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

// localGrid is a server, and maybe a worker, inside this process.
type localGrid struct {
	client     *client.Client
	store      store.Store
	server     *server.Server
	httpServer *http.Server
	cancelBase context.CancelFunc
	workerID   string // the embedded worker's, if any
	stopWorker context.CancelFunc
	workerDone chan struct{}
	once       sync.Once
}

// startLocal opens the SQLite database in dataDir (migrating it: it is the
// user's own file) and serves the API on a loopback port.
func (e *env) startLocal(ctx context.Context, dataDir string, withWorker bool, exec execOptions) (*localGrid, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, userErr("set RGRID_DATA_DIR to a writable directory", "create the data directory: %v", err)
	}
	st, err := database.Open(ctx, filepath.Join(dataDir, "rgrid.db"), database.Options{Migrate: true})
	if err != nil {
		return nil, dbError(err)
	}
	rt, err := e.runtimeTable()
	if err != nil {
		st.Close()
		return nil, err
	}
	// An embedded grid lives and dies with its command, so a job whose
	// embedded worker was lost (its rgrid run was killed) ends lost rather
	// than queueing again, where the next embedded rgrid run would lease
	// and run it before its own job.
	l, err := serveLocal(ctx, st, rt, "127.0.0.1:0", server.Options{MaxAttempts: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		st.Close()
		return nil, err
	}
	if withWorker {
		id := "embedded-" + randomSuffix()
		ex, notice, err := chooseExecutor(ctx, exec.choice(id))
		if err != nil {
			l.close()
			return nil, err
		}
		if notice != "" {
			fmt.Fprintln(e.stderr, notice)
		}
		sweepGoneEmbedded(ctx, st, dockerOf(ex), time.Now())
		w, err := worker.New(l.client, worker.Options{
			ID: id, Name: "embedded", Slots: 1, Executor: ex,
			Defaults: exec.defaults, Log: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			l.close()
			return nil, err
		}
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		l.workerID, l.stopWorker = id, cancel
		l.workerDone = make(chan struct{})
		go func() {
			defer close(l.workerDone)
			_ = w.Run(wctx)
		}()
	}
	return l, nil
}

// embeddedGoneAfter is how long an embedded worker of the data directory
// may be silent before sweepGoneEmbedded takes it for gone: the local
// server's dead-after (the scheduler's default). A live one heartbeats
// every few seconds.
const embeddedGoneAfter = 15 * time.Second

// sweepGoneEmbedded settles what the data directory's gone embedded
// workers left: their rgrid run was killed (kill -9) before it could stop
// its job. Their jobs end lost now, with a message saying so, rather than
// when a reaper gets to them; their containers (d: this run's Docker
// executor, nil without Docker) are removed, as nothing else would stop
// them: a job's time limit runs in its worker; and their registrations go
// (a stalled one that comes back registers again). The sweep is a
// courtesy: failures are ignored.
func sweepGoneEmbedded(ctx context.Context, st store.Store, d *docker.Executor, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	workers, err := st.ListWorkers(ctx)
	if err != nil {
		return
	}
	gone := map[string]bool{}
	for _, w := range workers {
		if w.Name != "embedded" || now.Sub(w.LastHeartbeat) <= embeddedGoneAfter {
			continue
		}
		gone[w.ID] = true
		if w.SlotsInUse > 0 {
			_, _ = st.LoseAttempts(ctx, store.LoseParams{WorkerID: w.ID, Reason: "worker_lost",
				Message: fmt.Sprintf("the rgrid run that ran it (worker %s) was killed before the job ended; last heard from at %s",
					w.ID, w.LastHeartbeat.Local().Format(time.TimeOnly)),
				Now: now})
		}
		_ = st.DeleteWorker(ctx, w.ID)
	}
	if d != nil && len(gone) > 0 {
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
	}
	return nil
}

// serveLocal serves the API for st on addr and returns once it listens.
func serveLocal(ctx context.Context, st store.Store, rt *runtimes.Table, addr string, opts server.Options, log *slog.Logger) (*localGrid, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, platformErr("choose another address with --listen", "listen on %s: %v", addr, err)
	}
	srv := server.New(st, rt, log, opts)
	// Long polls end when the base context does, so close is quick.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	go func() { _ = hs.Serve(ln) }()
	if err := srv.Start(base); err != nil {
		cancelBase()
		_ = hs.Close()
		return nil, err
	}
	c, err := client.New("http://"+ln.Addr().String(), opts.Token)
	if err != nil {
		cancelBase()
		_ = hs.Close()
		return nil, err
	}
	return &localGrid{client: c, store: st, server: srv, httpServer: hs, cancelBase: cancelBase}, nil
}

func (l *localGrid) close() {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if l.stopWorker != nil {
			l.stopWorker()
			<-l.workerDone
			// An embedded worker is never seen again: keep the data
			// directory's list of workers to the live ones. (Still
			// holding a job, it stays for the next run to settle.)
			_ = l.store.DeleteWorker(ctx, l.workerID)
		}
		l.cancelBase()
		_ = l.httpServer.Shutdown(ctx)
		l.server.Stop()
		_ = l.store.Close()
	})
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dbError turns a schema or connection failure into advice; either is a
// failure of the platform, not of the command line.
func dbError(err error) error {
	var behind *database.SchemaBehindError
	var ahead *database.SchemaAheadError
	switch {
	case errors.As(err, &behind):
		return platformErr(behind.Hint(), "%v", err)
	case errors.As(err, &ahead):
		return platformErr(ahead.Hint(), "%v", err)
	}
	return platformErr("check the --db URL and that the database is running", "open the database: %v", err)
}

// execOptions choose and configure the executor of an embedded or
// standalone worker.
type execOptions struct {
	name     string // "", "process" or "docker"
	defaults executor.Limits
	docker   docker.Options // the dependency settings (depsFlags)
}

// choice is what an embedded worker with id runs jobs with.
func (x execOptions) choice(workerID string) executorChoice {
	return executorChoice{name: x.name, embedded: true, workerID: workerID, docker: x.docker}
}
