package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/worker"
)

func newServerCmd(e *env) *cobra.Command {
	var (
		listen, db, token     string
		logLimit, maxLogLimit int64
		migrate               bool
		maxScript             int64
		heartbeat             time.Duration
		deadAfter             time.Duration
		reapInterval          time.Duration
		timeoutGrace          time.Duration
		maxAttempts           int
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: the API, the scheduler and the reaper",
		Example: `  rgrid server --db postgres://rgrid@db.example.com/rgrid --migrate
  rgrid server --listen 0.0.0.0:8080 --db /var/lib/rgrid/rgrid.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if db == "" {
				return userErr("pass --db postgres://USER@HOST/DB (or a SQLite file path), or set RGRID_DB", "no database given")
			}
			log := slog.New(slog.NewTextHandler(e.stderr, nil))
			st, err := database.Open(ctx, db, database.Options{Migrate: migrate})
			if err != nil {
				return dbError(err)
			}
			defer st.Close()
			rt, err := e.runtimeTable()
			if err != nil {
				return err
			}
			if heartbeat < time.Second || deadAfter%time.Second != 0 || heartbeat%time.Second != 0 {
				return userErr("use whole seconds, e.g. --heartbeat-interval 5s --dead-after 15s",
					"--heartbeat-interval and --dead-after are whole seconds of at least 1 s")
			}
			if deadAfter <= heartbeat {
				return userErr("make --dead-after a few heartbeats long (the default is 3)",
					"--dead-after %s must be longer than --heartbeat-interval %s", deadAfter, heartbeat)
			}
			if maxLogLimit < logLimit {
				return userErr("raise --max-log-limit or lower --log-limit", "--max-log-limit %s is under --log-limit %s",
					bytesize.Format(maxLogLimit), bytesize.Format(logLimit))
			}
			opts := server.Options{MaxScriptBytes: maxScript, Token: token, HeartbeatInterval: heartbeat,
				DeadAfter: deadAfter, ReapInterval: reapInterval, TimeoutGrace: timeoutGrace, MaxAttempts: maxAttempts,
				LogLimit: logLimit, MaxLogLimit: maxLogLimit}
			srv := server.New(st, rt, log, opts)
			if err := srv.Start(ctx); err != nil {
				return err
			}
			defer srv.Stop() // before the store closes
			return serve(ctx, listen, srv.Handler(), log, func(addr string) {
				log.Info("rgrid server listening", "addr", addr, "db", database.Redact(db), "dialect", st.Dialect())
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the API on")
	f.StringVar(&db, "db", "", "database: postgres://… or a SQLite file path (env RGRID_DB)")
	f.BoolVar(&migrate, "migrate", false, "apply pending database migrations before serving")
	f.StringVar(&token, "token", "", "require this bearer token on every API call (env RGRID_TOKEN)")
	sizeVar(f, &maxScript, "max-script-size", 10<<20, "largest script accepted")
	f.DurationVar(&heartbeat, "heartbeat-interval", 5*time.Second, "how often workers heartbeat")
	f.DurationVar(&deadAfter, "dead-after", 15*time.Second, "a worker silent this long is dead; its jobs go to other workers")
	f.DurationVar(&reapInterval, "reap-interval", 2*time.Second, "how often to look for dead workers and overdue jobs")
	f.DurationVar(&timeoutGrace, "timeout-grace", 30*time.Second, "the server ends a job running this long past its time limit")
	f.IntVar(&maxAttempts, "max-attempts", 3, "attempts a job may lose to dead workers before it ends lost")
	sizeVar(f, &logLimit, "log-limit", 10<<20, "output stored for each attempt of a job that sets no --log-limit; the job goes on past it")
	sizeVar(f, &maxLogLimit, "max-log-limit", 1<<30, "the largest --log-limit a job may ask for")
	return cmd
}

// serve runs handler on addr until ctx ends, then shuts down; long polls
// are released at once through the base context.
func serve(ctx context.Context, addr string, handler http.Handler, log *slog.Logger, onListen func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return platformErr("choose another address with --listen, or stop what uses it", "listen on %s: %v", addr, err)
	}
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base }}
	onListen(ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	cancelBase()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

type workerOptions struct {
	server, token, executor, id, name string
	slots                             int
	maxLogBytes                       int64
	limits                            limitFlags
	max                               maxFlags
	deps                              depsFlags
}

func newWorkerCmd(e *env) *cobra.Command {
	o := &workerOptions{}
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker agent that leases jobs from a server and runs them",
		Long: `Run a worker agent. It registers with the server, heartbeats, runs up to
--slots jobs at once, streams their output and reports results.

SIGTERM (or Ctrl-C, or SIGHUP) drains: no new jobs, running ones finish, then it exits.
A second signal stops it at once.`,
		Example: `  rgrid worker --server http://control:8080 --slots 4`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "server URL (env RGRID_SERVER)")
	f.StringVar(&o.token, "token", "", "API token (env RGRID_TOKEN)")
	f.IntVar(&o.slots, "slots", 1, "how many jobs to run at once")
	f.StringVar(&o.executor, "executor", "", "docker, or process (no isolation); default docker, and an error if no engine answers")
	f.StringVar(&o.id, "worker-id", "", "stable id of this worker (default: one made once and kept in the data directory)")
	f.StringVar(&o.name, "name", "", "display name (default: the host name)")
	sizeVar(f, &o.maxLogBytes, "max-log-bytes", 10<<20, "cap on the output of a job that carries no log limit of its own; the rest is cut with a notice")
	o.limits.add(f)
	o.max.add(f)
	o.deps.add(f)
	return cmd
}

func (o *workerOptions) run(ctx context.Context, e *env) error {
	if o.server == "" {
		return userErr("pass --server http://HOST:8080 or set RGRID_SERVER", "no server given")
	}
	c, err := client.New(o.server, o.token)
	if err != nil {
		return userErr("pass a URL like http://127.0.0.1:8080", "%v", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	defaults, err := o.limits.executorLimits(defaultLimits())
	if err != nil {
		return err
	}
	maxima, err := o.max.executorLimits(executor.Limits{})
	if err != nil {
		return err
	}
	if err := checkDefaultsFit(defaults, maxima); err != nil {
		return err
	}
	explicitID := o.id != ""
	if !explicitID {
		if o.id, err = persistentWorkerID(); err != nil {
			return err
		}
	}
	// Before the executor starts: a second process on this id must not
	// touch the first one's containers.
	lock, err := lockWorkerID(o.id)
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
		log.Warn("no data directory to lock the worker id in; two processes on this machine with this id are refused only by the server", "err", err)
	default:
		return userErr("set RGRID_DATA_DIR to a writable directory, or pass --worker-id", "lock the worker id: %v", err)
	}
	dockerOpts, err := o.deps.options()
	if err != nil {
		return err
	}
	ex, _, err := chooseExecutor(ctx, executorChoice{name: o.executor, workerID: o.id, log: log, docker: dockerOpts})
	if err != nil {
		return err
	}
	if ex.Name() == "process" {
		log.Warn("executor process: jobs run on this machine as this user, with rlimits but no isolation")
	}
	if o.name == "" {
		o.name, _ = os.Hostname()
	}
	w, err := worker.New(c, worker.Options{
		ID: o.id, Name: o.name, Slots: o.slots, Executor: ex, Log: log,
		Defaults: defaults, Max: maxima, MaxLogBytes: o.maxLogBytes, Instance: instance,
	})
	if err != nil {
		return userErr("check the worker's flags", "%v", err)
	}
	// The first signal (through ctx) drains; a second one aborts.
	second := make(chan os.Signal, 1)
	go func() {
		<-ctx.Done()
		signal.Notify(second, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		if _, ok := <-second; ok {
			log.Warn("second signal: stopping running jobs now")
			w.Abort()
		}
	}()
	defer func() { signal.Stop(second); close(second) }()
	return w.Run(ctx)
}

// persistentWorkerID returns this machine's worker id, made once and kept,
// so that a restarted worker is the same worker to the server.
func persistentWorkerID() (string, error) {
	dir, err := config.DataDir()
	if err != nil {
		return "", userErr("pass --worker-id", "%v", err)
	}
	host, _ := os.Hostname()
	return keptID(dir, "worker-id", host)
}

// lockWorkerID takes id's lock in the data directory: one process per
// worker id there (see worker.IDLock).
func lockWorkerID(id string) (*worker.IDLock, error) {
	dir, err := config.DataDir()
	if err != nil {
		return nil, err
	}
	lock, err := worker.LockID(dir, id)
	var held *worker.IDHeldError
	if errors.As(err, &held) {
		pid := "pid unknown"
		if held.PID > 0 {
			pid = fmt.Sprintf("pid %d", held.PID)
		}
		return nil, userErr(fmt.Sprintf("give this one its own identity: --worker-id NAME or RGRID_DATA_DIR=DIR (this data directory is %s)", dir),
			"worker %s is already running in this data directory (%s)", id, pid)
	}
	return lock, err
}

// keptID returns the id kept in dir/file, or makes one (prefix-random),
// keeps it there and returns it.
func keptID(dir, file, prefix string) (string, error) {
	path := filepath.Join(dir, file)
	if id := readKeptID(path); id != "" {
		return id, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", userErr("set RGRID_DATA_DIR to a writable directory", "keep the worker id: %v", err)
	}
	// Written aside and linked into place, which fails if the file is
	// there: of two first starts at once, both keep the id of the first.
	id := fmt.Sprintf("%s-%s", prefix, randomSuffix())
	tmp, err := os.CreateTemp(dir, file+".new-*")
	if err == nil {
		_, err = tmp.WriteString(id + "\n")
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		defer os.Remove(tmp.Name())
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
		if errors.Is(err, fs.ErrExist) {
			if kept := readKeptID(path); kept != "" {
				return kept, nil
			}
		}
		if err != nil { // an empty file left over, or no hard links here
			err = os.Rename(tmp.Name(), path)
		}
	}
	if err != nil {
		return "", userErr("set RGRID_DATA_DIR to a writable directory", "keep the worker id: %v", err)
	}
	return id, nil
}

func readKeptID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func newDevCmd(e *env) *cobra.Command {
	var listen string
	var slots int
	var deps depsFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Keep a local server and worker running for --detach, status and logs",
		Long: `Run a server and a worker in this process on the local SQLite database, on
127.0.0.1, until interrupted. Other rgrid commands on this machine find it and
use it when no --server is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dataDir, err := config.DataDir()
			if err != nil {
				return userErr("set RGRID_DATA_DIR", "%v", err)
			}
			if url := devServerURL(ctx, dataDir); url != "" {
				return userErr("use it, or stop it first", "rgrid dev is already running at %s", url)
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return userErr("set RGRID_DATA_DIR to a writable directory", "create the data directory: %v", err)
			}
			st, err := database.Open(ctx, filepath.Join(dataDir, "rgrid.db"), database.Options{Migrate: true})
			if err != nil {
				return dbError(err)
			}
			rt, err := e.runtimeTable()
			if err != nil {
				st.Close()
				return err
			}
			l, err := serveLocal(ctx, st, rt, listen, server.Options{}, slog.New(slog.DiscardHandler))
			if err != nil {
				st.Close()
				return err
			}
			defer l.close()
			// One rgrid dev runs per data directory at a time, so its
			// worker keeps one id there: restarted after a crash or a
			// kill -9, it adopts the containers its jobs still run in
			// rather than leaving them to run on while the jobs go
			// elsewhere.
			id, err := keptID(dataDir, "dev-worker-id", "dev")
			if err != nil {
				return err
			}
			// Its own lock too, so that no rgrid worker given this id
			// runs beside it; and a restarted rgrid dev carries on with
			// its instance, which its server still knows.
			lock, err := lockWorkerID(id)
			if err != nil {
				return err
			}
			defer lock.Close()
			dockerOpts, err := deps.options()
			if err != nil {
				return err
			}
			ex, notice, err := chooseExecutor(ctx, execOptions{docker: dockerOpts}.choice(id))
			if err != nil {
				return err
			}
			ex = recovering(ex)
			if notice != "" {
				fmt.Fprintln(e.stderr, notice)
			}
			w, err := worker.New(l.client, worker.Options{ID: id, Name: "dev", Slots: slots,
				Executor: ex, Defaults: defaultLimits(), Instance: lock.Instance})
			if err != nil {
				return err
			}
			b, _ := json.Marshal(devState{URL: l.client.BaseURL(), PID: os.Getpid()})
			if err := os.WriteFile(devStatePath(dataDir), b, 0o600); err != nil {
				return userErr("set RGRID_DATA_DIR to a writable directory", "write %s: %v", devStatePath(dataDir), err)
			}
			defer os.Remove(devStatePath(dataDir))
			fmt.Fprintf(e.stderr, "rgrid dev: serving %s with %d slot(s) on %s; Ctrl-C stops\n",
				l.client.BaseURL(), slots, filepath.Join(dataDir, "rgrid.db"))
			err = w.Run(ctx)
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8765", "address to serve on (keep it on loopback)")
	cmd.Flags().IntVar(&slots, "slots", 2, "how many jobs to run at once")
	deps.add(cmd.Flags())
	return cmd
}
