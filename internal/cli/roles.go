package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/node"
)

// The commands that run rgrid's roles: they read and check settings, and
// internal/node runs what they describe.

func newServerCmd(e *env) *cobra.Command {
	var (
		listen, db, token     string
		dbListen              string
		leaderTTL             time.Duration
		blobs                 string
		retention             time.Duration
		maxInputs             int64
		logLimit, maxLogLimit int64
		migrate               bool
		maxScript             int64
		liveness              livenessFlags
		reapInterval          time.Duration
		timeoutGrace          time.Duration
		maxAttempts           int
		maxBatchItems         int
		bootstrapFile         string
		userMaxQueued         int
		userMaxRunning        int
		tlsOpts               node.ServerTLS
		secretKeyFile         string
		metricsInterval       time.Duration
		autoscaleInterval     time.Duration
		budgetJobTimeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: the API, the scheduler and the reaper",
		Example: `  rgrid server --db postgres://rgrid@db.example.com/rgrid --migrate
  rgrid server --listen 0.0.0.0:8443 --db /var/lib/rgrid/rgrid.db --tls-cert server.pem --tls-key server-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if db == "" {
				return userErr("pass --db postgres://USER@HOST/DB (or a SQLite file path), or set RGRID_DB", "no database given")
			}
			opts, err := liveness.options()
			if err != nil {
				return err
			}
			if maxLogLimit < logLimit {
				return userErr("raise --max-log-limit or lower --log-limit", "--max-log-limit %s is under --log-limit %s",
					bytesize.Format(maxLogLimit), bytesize.Format(logLimit))
			}
			rt, err := e.runtimeTable()
			if err != nil {
				return err
			}
			opts.MaxScriptBytes, opts.Token, opts.ReapInterval, opts.TimeoutGrace = maxScript, token, reapInterval, timeoutGrace
			opts.MaxAttempts, opts.LogLimit, opts.MaxLogLimit = maxAttempts, logLimit, maxLogLimit
			if retention < time.Hour {
				return userErr("keep unreferenced files at least an hour, e.g. --retention 168h", "--retention %s is under an hour", retention)
			}
			opts.Retention, opts.MaxInputBytes = retention, maxInputs
			if maxBatchItems < 1 {
				return userErr("pass a positive number, e.g. --max-batch-items 100000", "--max-batch-items %d is not positive", maxBatchItems)
			}
			opts.MaxBatchItems = maxBatchItems
			if userMaxQueued < 0 || userMaxRunning < 0 {
				return userErr("pass 0 for no limit, or a positive number", "--user-max-queued and --user-max-running take no negative numbers")
			}
			opts.MaxQueuedPerUser, opts.MaxRunningPerUser = userMaxQueued, userMaxRunning
			if metricsInterval < time.Second {
				return userErr("read the gauges at most once a second, e.g. --metrics-interval 10s", "--metrics-interval %s is under a second", metricsInterval)
			}
			opts.MetricsInterval = metricsInterval
			if budgetJobTimeout < time.Second {
				return userErr("give jobs of budgeted users at least a second, e.g. --budget-job-timeout 1h", "--budget-job-timeout %s is under a second", budgetJobTimeout)
			}
			opts.BudgetJobTimeout = budgetJobTimeout
			if leaderTTL < time.Second {
				return userErr("give the lease at least a second, e.g. --leader-ttl 15s", "--leader-ttl %s is under a second", leaderTTL)
			}
			opts.LeaderTTL = leaderTTL
			scale, err := e.autoscale(autoscaleInterval)
			if err != nil {
				return err
			}
			return node.RunServer(cmd.Context(), node.ServerConfig{DB: db, ListenDB: dbListen, Migrate: migrate, Listen: listen, Blobs: blobs,
				Runtimes: rt, Options: opts, TLS: tlsOpts, BootstrapTokenFile: bootstrapFile, SecretKeyFile: secretKeyFile,
				Autoscale: scale, Log: slog.New(slog.NewTextHandler(e.stderr, nil))})
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the API on; one other machines reach needs --tls-cert and --tls-key, or --insecure-http")
	f.StringVar(&tlsOpts.CertFile, "tls-cert", "", "serve HTTPS with this PEM certificate (its chain after it), read again when it changes (env RGRID_TLS_CERT)")
	f.StringVar(&tlsOpts.KeyFile, "tls-key", "", "the PEM private key of --tls-cert (env RGRID_TLS_KEY)")
	f.BoolVar(&tlsOpts.InsecureHTTP, "insecure-http", false, "serve plain HTTP on an address other machines reach, e.g. behind a proxy that terminates TLS (warned of at every start)")
	f.StringVar(&db, "db", "", "database: postgres://… or a SQLite file path (env RGRID_DB)")
	f.StringVar(&dbListen, "db-listen", "", "PostgreSQL URL for the connection that hears the other replicas' wake-ups (LISTEN needs a session: not a transaction pooler); default --db (env RGRID_DB_LISTEN)")
	f.DurationVar(&leaderTTL, "leader-ttl", 15*time.Second, "PostgreSQL replicas: the reaper and retention run on the replica holding their lease, renewed every third of this; another takes over this long after its holder dies")
	f.BoolVar(&migrate, "migrate", false, "apply pending database migrations before serving")
	f.StringVar(&token, "token", "", "deprecated: one shared token for every user and worker, acting as an admin (env RGRID_TOKEN); use --bootstrap-token-file and users")
	f.StringVar(&bootstrapFile, "bootstrap-token-file", "", "the first admin's token: read from FILE, or made and written there (mode 0600) if it does not exist; the server then always needs tokens")
	f.IntVar(&userMaxQueued, "user-max-queued", 100_000, "queued jobs a user may have (0: no limit); an admin sets a user's own with rgrid admin user limits")
	f.IntVar(&userMaxRunning, "user-max-running", 0, "jobs of one user leased or running at once (0: no limit); more wait while others' run")
	f.DurationVar(&budgetJobTimeout, "budget-job-timeout", time.Hour, "the time limit given to a job without one of a user with a budget (rgrid admin user budget), so its worst case can be held")
	sizeVar(f, &maxScript, "max-script-size", 10<<20, "largest script accepted")
	liveness.add(f, false)
	f.DurationVar(&reapInterval, "reap-interval", 2*time.Second, "how often to look for dead workers and overdue jobs")
	f.DurationVar(&timeoutGrace, "timeout-grace", 30*time.Second, "the server ends a job running this long past its time limit")
	f.IntVar(&maxAttempts, "max-attempts", 3, "attempts a job may lose to dead workers before it ends lost")
	sizeVar(f, &logLimit, "log-limit", 10<<20, "output stored for each attempt of a job that sets no --log-limit; the job goes on past it")
	sizeVar(f, &maxLogLimit, "max-log-limit", 1<<30, "the largest --log-limit a job may ask for")
	f.StringVar(&blobs, "blobs", "", "where jobs' files are kept: a directory, or s3://BUCKET/PREFIX?endpoint=…&region=… (default: beside a SQLite --db, else the data directory)")
	f.DurationVar(&retention, "retention", 7*24*time.Hour, "files no job references are deleted after this long")
	sizeVar(f, &maxInputs, "max-inputs", 10<<30, "the largest working directory a job may send")
	f.IntVar(&maxBatchItems, "max-batch-items", 100_000, "the most items one batch may have")
	f.DurationVar(&metricsInterval, "metrics-interval", 10*time.Second, "how often /metrics' queue and worker gauges are read from the database (never per scrape)")
	f.DurationVar(&autoscaleInterval, "autoscale-interval", 10*time.Second, "how often the autoscaler weighs the queue against each [[pools]] table of the config file (autoscaling is off without pools)")
	f.StringVar(&secretKeyFile, "secret-key-file", "", "file of 32 random bytes (hex or base64, mode 0600) that encrypts jobs' --secret-env values; every replica needs the same (env RGRID_SECRET_KEY_FILE; default: made beside a SQLite --db, none on PostgreSQL)")
	return cmd
}

type workerOptions struct {
	server, token, executor, id, name string
	caCert                            string
	metricsListen                     string
	slots                             int
	maxLogBytes                       int64
	diskQuota                         string
	maxOutputFiles                    int
	maxOutputs                        int64
	initPath                          string
	warm                              int
	limits                            limitFlags
	max                               maxFlags
	deps                              depsFlags
	price                             priceFlags
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
		Example: `  rgrid worker --server https://control:8443 --slots 4
  rgrid worker --server https://control-a:8443,https://control-b:8443
  rgrid worker --server https://control:8443 --ca-cert /etc/rgrid/ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "server URL, or the replicas' URLs comma-separated: the worker moves to the next when one cannot be connected to (env RGRID_SERVER)")
	f.StringVar(&o.token, "token", "", "API token (env RGRID_TOKEN)")
	addCACertFlag(f, &o.caCert)
	f.IntVar(&o.slots, "slots", 1, "how many jobs to run at once")
	f.StringVar(&o.executor, "executor", "", "docker, or process (no isolation); default docker, and an error if no engine answers")
	f.StringVar(&o.id, "worker-id", "", "stable id of this worker (default: one made once and kept in the data directory)")
	f.StringVar(&o.name, "name", "", "display name (default: the host name)")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "serve this worker's Prometheus metrics at http://ADDR/metrics, unauthenticated: keep it on loopback, e.g. 127.0.0.1:9101 (default: none)")
	sizeVar(f, &o.maxLogBytes, "max-log-bytes", 10<<20, "cap on the output of a job that carries no log limit of its own; the rest is cut with a notice")
	f.StringVar(&o.diskQuota, "disk-quota", "auto", "limit each job's working directory to its --disk with a size-limited mount: auto (if this machine can: root, loop devices, mkfs.ext4), required, or off")
	f.IntVar(&o.maxOutputFiles, "max-output-files", 10_000, "the most files collected of a job's outputs; the rest are listed as left out")
	sizeVar(f, &o.maxOutputs, "max-outputs", 1<<30, "the most bytes collected of a job's outputs; the rest are listed as left out")
	f.StringVar(&o.initPath, "init", "", "a static Linux build of rgrid (CGO_ENABLED=0) for the Docker worker to mount as its job containers' init (default: this binary, if it is one; else the engine's init and its slower attach stream)")
	f.IntVar(&o.warm, "warm", -1, "keep up to N job containers started ahead and waiting, never used, so that a job skips the container's start (Linux, root, and the init: see README, Warm containers); default: as many as --slots; 0: off")
	o.limits.add(f)
	o.max.add(f)
	o.deps.add(f)
	o.price.add(f)
	return cmd
}

func (o *workerOptions) run(ctx context.Context, e *env) error {
	defaults, err := o.limits.executorLimits(defaultLimits())
	if err != nil {
		return err
	}
	maxima, err := o.max.executorLimits(node.Limits{})
	if err != nil {
		return err
	}
	if err := checkDefaultsFit(defaults, maxima); err != nil {
		return err
	}
	dockerOpts, err := o.deps.options()
	if err != nil {
		return err
	}
	if dockerOpts.DiskQuota, err = diskQuotaMode(o.diskQuota); err != nil {
		return err
	}
	dockerOpts.DiskBytes = defaults.DiskBytes
	dockerOpts.InitPath = o.initPath
	if dockerOpts.PoolMax, err = warmCount(o.warm, o.slots); err != nil {
		return err
	}
	if o.maxOutputFiles < 1 {
		return userErr("collect at least one file, e.g. --max-output-files 10000", "--max-output-files %d is not a positive count", o.maxOutputFiles)
	}
	pricing, err := o.price.pricing()
	if err != nil {
		return err
	}
	// The first signal (through ctx) drains; a second one aborts.
	abort, stop := secondSignal(ctx)
	defer stop()
	return node.RunWorker(ctx, node.WorkerConfig{
		Server: o.server, Token: o.token, CACert: o.caCert, ID: o.id, Name: o.name, Slots: o.slots, Executor: o.executor,
		Defaults: defaults, Max: maxima, MaxLogBytes: o.maxLogBytes, Docker: dockerOpts,
		MaxOutputFiles: o.maxOutputFiles, MaxOutputBytes: o.maxOutputs, MetricsListen: o.metricsListen,
		Pricing: pricing, Log: slog.New(slog.NewTextHandler(e.stderr, nil)), Abort: abort,
	})
}

// warmCount reads --warm: -1 (not given) is as many as the slots.
func warmCount(warm, slots int) (int, error) {
	switch {
	case warm == -1:
		return max(slots, 0), nil
	case warm < 0:
		return 0, userErr("give a count of warm containers, e.g. --warm 4, or 0 for none", "--warm %d is negative", warm)
	}
	return warm, nil
}

// diskQuotaMode reads --disk-quota.
func diskQuotaMode(s string) (node.DiskQuotaMode, error) {
	switch m := node.DiskQuotaMode(s); m {
	case node.DiskQuotaAuto, node.DiskQuotaRequired, node.DiskQuotaOff:
		return m, nil
	}
	return "", userErr("use --disk-quota auto, required or off", "--disk-quota %q is not a mode", s)
}

// secondSignal returns a channel closed when a signal that would stop rgrid
// arrives after ctx has ended (the first one ends it, in main), and the
// function that stops watching. The channel the signals arrive on is
// never closed, so a late signal cannot be sent on a closed channel.
func secondSignal(ctx context.Context) (<-chan struct{}, func()) {
	abort, quit := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-quit:
			return
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
		select {
		case <-sigs:
			close(abort)
		case <-quit:
		}
	})
	return abort, func() { close(quit); wg.Wait() }
}

func newDevCmd(e *env) *cobra.Command {
	var (
		listen   string
		slots    int
		warm     int
		deps     depsFlags
		liveness livenessFlags
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Keep a local server and worker running for --detach, status and logs",
		Long: `Run a server and a worker in this process on the local SQLite database, on
127.0.0.1, until interrupted. Other rgrid commands on this machine find it and
use it when no --server is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir, err := config.DataDir()
			if err != nil {
				return userErr("set RGRID_DATA_DIR", "%v", err)
			}
			rt, err := e.runtimeTable()
			if err != nil {
				return err
			}
			dockerOpts, err := deps.options()
			if err != nil {
				return err
			}
			if dockerOpts.PoolMax, err = warmCount(warm, slots); err != nil {
				return err
			}
			opts, err := liveness.options()
			if err != nil {
				return err
			}
			return node.RunDev(cmd.Context(), node.DevConfig{
				DataDir: dataDir, Listen: listen, Slots: slots, Runtimes: rt, Server: opts,
				Worker: node.EmbeddedWorker{Defaults: defaultLimits(), Docker: dockerOpts},
			}, func(url, notice string) {
				if notice != "" {
					fmt.Fprintln(e.stderr, notice)
				}
				fmt.Fprintf(e.stderr, "rgrid dev: serving %s with %d slot(s) on %s; Ctrl-C stops\n",
					url, slots, filepath.Join(dataDir, "rgrid.db"))
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8765", "address to serve on (keep it on loopback)")
	cmd.Flags().IntVar(&slots, "slots", 2, "how many jobs to run at once")
	cmd.Flags().IntVar(&warm, "warm", -1, "keep up to N job containers started ahead and waiting (see README, Warm containers); default: as many as --slots; 0: off")
	deps.add(cmd.Flags())
	liveness.add(cmd.Flags(), false)
	return cmd
}
