// Package server is the RGrid control plane's HTTP API: job submission and
// queries, log reading and following, and the worker protocol (register,
// heartbeat, lease, log upload, result). It keeps no state of its own beyond
// the store, so several replicas can serve one PostgreSQL database.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/leader"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/scheduler"
	"github.com/rgrid/rgrid/internal/secrets"
	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/version"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// MaxScriptBytes caps a submitted script (default 10 MiB).
	MaxScriptBytes int64
	// HeartbeatInterval is what workers are told to use (default 5 s).
	HeartbeatInterval time.Duration
	// MaxLeaseWait caps how long a lease request is held (default 30 s).
	MaxLeaseWait time.Duration
	// MaxAttempts is how many of a job's attempts may be lost to the
	// infrastructure before it ends lost (default 3).
	MaxAttempts int
	// DeadAfter is how long a worker may be silent before its jobs go to
	// other workers (default 15 s).
	DeadAfter time.Duration
	// ReapInterval is how often the reaper looks for dead workers and
	// overdue jobs (default 2 s).
	ReapInterval time.Duration
	// TimeoutGrace is how long past its time limit a job may run before the
	// server ends it itself (default 30 s).
	TimeoutGrace time.Duration
	// LogLimit is the output stored for each attempt of a job that sets
	// no limit (default 10 MiB); MaxLogLimit the most a job may ask for
	// (default 1 GiB).
	LogLimit, MaxLogLimit int64
	// Token is the old single shared token (deprecated): a caller
	// presenting it is an admin and a worker at once. "" for none.
	Token string
	// AuthRequired keeps the server from open mode even while it has no
	// tokens yet (a bootstrap file is configured).
	AuthRequired bool
	// MaxQueuedPerUser and MaxRunningPerUser are the per-user limits of
	// users without their own (0: none; see limits.go).
	MaxQueuedPerUser, MaxRunningPerUser int
	// BudgetJobTimeout is the time limit given to a job without one of a
	// user with a budget, so that its worst case can be held (default 1 h).
	BudgetJobTimeout time.Duration
	// PollInterval is how long a waiting lease request goes without
	// looking at the store when nothing in this process wakes it: the
	// fallback for changes made elsewhere (default 1 s).
	PollInterval time.Duration
	// Blobs holds jobs' files: their working directories and outputs. A
	// server without one refuses jobs that send files.
	Blobs blob.Store
	// MaxInputBytes caps a job's working directory (default 10 GiB); the
	// client's own default cap is far lower (100 MiB).
	MaxInputBytes int64
	// PresignTTL is how long a presigned blob URL is valid (default 1 h).
	PresignTTL time.Duration
	// Retention is how long a blob no job references is kept before the
	// sweep deletes it (default 7 days).
	Retention time.Duration
	// MaxBatchItems caps the items of one batch (default
	// DefaultMaxBatchItems, 100,000); a larger one is refused with
	// limit_exceeded (422).
	MaxBatchItems int
	// Secrets gives the key that seals jobs' secret environment values
	// when one is first needed; nil, or a source of no key, refuses
	// submissions that carry secrets (secret_key_missing).
	Secrets *secrets.Source
	// SessionKey signs the console's session cookies (see session.go);
	// empty: the key stored in the database, made by the first server
	// that needs one.
	SessionKey []byte
	// MetricsInterval is how often the gauges of GET /metrics that read
	// the store (queue, workers, slots) are read (default 10 s): never per
	// scrape.
	MetricsInterval time.Duration
	// Relay, if set, carries the scheduler's wake-ups to the other
	// replicas on the same database (internal/pgnotify on PostgreSQL):
	// New attaches it to the scheduler's notifier, Start starts it and
	// Stop stops it. Without one, a change made through another replica
	// is seen at the next poll (PollInterval).
	Relay Relay
	// Elect runs the singleton loops (the reaper, blob retention) only on
	// the replica that holds their lease in the database (internal/leader),
	// for replicas sharing PostgreSQL; without it they run in this
	// process. LeaderTTL is the lease's life (default leader.DefaultTTL):
	// how long the loops may go unrun after their leader dies.
	Elect     bool
	LeaderTTL time.Duration
	// Pools reports the autoscaler's pools for GET /v1/pools, and whether
	// this replica runs the autoscaler now (another may hold its lease);
	// nil when the server runs no autoscaler.
	Pools func() ([]client.PoolStatus, bool)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Relay carries the scheduler's wake-ups to the other replicas.
type Relay interface {
	scheduler.Relay
	startstop.Service
	// Attach sets where the other replicas' topics are delivered.
	Attach(sink scheduler.Sink)
}

// Server serves the API over a store.
type Server struct {
	store     store.Store
	runtimes  *runtimes.Table
	sched     *scheduler.Scheduler
	relay     Relay  // nil: wake-ups stay in this process
	holder    string // this replica's name in leader leases
	reaper    *scheduler.Reaper
	reaping   startstop.Service      // the reaper, run while this replica leads it
	sweeper   startstop.Service      // blob retention; nil without a blob store
	gauges    *startstop.FuncService // the metrics' store-backed gauges
	metrics   *metrics
	blobs     blobCounters
	batches   batchCache
	manifests *manifestCache
	// ownedInputs holds owner+"\x00"+hash for the inputs manifests each
	// user has been found to have (knownInputs).
	ownedInputs *factSet
	auth        authState
	limits      limitCache
	pricing     pricingCache
	costDays    costDayCache
	routes      []Route
	sessMu      sync.Mutex
	sessKey     []byte
	log         *slog.Logger
	opts        Options
}

// New returns a server. The store must be migrated.
func New(st store.Store, rt *runtimes.Table, log *slog.Logger, opts Options) *Server {
	if opts.MaxScriptBytes <= 0 {
		opts.MaxScriptBytes = 10 << 20
	}
	if opts.LogLimit <= 0 {
		opts.LogLimit = store.DefaultLogLimit
	}
	if opts.MaxLogLimit <= 0 {
		opts.MaxLogLimit = 1 << 30
	}
	opts.MaxLogLimit = max(opts.MaxLogLimit, opts.LogLimit)
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	if opts.MaxLeaseWait <= 0 {
		opts.MaxLeaseWait = 30 * time.Second
	}
	if opts.BudgetJobTimeout <= 0 {
		opts.BudgetJobTimeout = time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = 15 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxInputBytes <= 0 {
		opts.MaxInputBytes = 10 << 30
	}
	if opts.PresignTTL <= 0 {
		opts.PresignTTL = time.Hour
	}
	if opts.MaxBatchItems <= 0 {
		opts.MaxBatchItems = DefaultMaxBatchItems
	}
	if opts.Retention <= 0 {
		opts.Retention = blob.DefaultRetention
	}
	if opts.MetricsInterval <= 0 {
		opts.MetricsInterval = DefaultMetricsInterval
	}
	m := newMetrics(rt, opts.Now)
	notifier := scheduler.NewNotifier()
	relay := opts.Relay
	if relay != nil {
		relay.Attach(notifier)
		notifier.SetRelay(relay)
	}
	sched := scheduler.New(st, notifier, log, opts.Now).WithPollInterval(opts.PollInterval).WithObserver(m)
	return &Server{
		relay:       relay,
		manifests:   newManifestCache(),
		ownedInputs: &factSet{max: maxOwnedInputs},
		holder:      leader.DefaultHolder(),
		store:       st,
		runtimes:    rt,
		metrics:     m,
		sched:       sched,
		reaper: sched.NewReaper(scheduler.ReaperOptions{
			DeadAfter: opts.DeadAfter, Interval: opts.ReapInterval, TimeoutGrace: opts.TimeoutGrace,
		}),
		log:  log,
		opts: opts,
	}
}

// Start starts the server's background work (the relay, the reaper, the metrics'
// store-backed gauges, the blob retention sweep) until ctx ends or Stop.
// Serving the Handler needs no Start; a server without it serves but never
// reaps, and its gauges stay at 0.
func (s *Server) Start(ctx context.Context) error {
	if s.relay != nil {
		if err := s.relay.Start(ctx); err != nil {
			return err
		}
	}
	s.reaping = s.Singleton("reaper", func(ctx context.Context) {
		_ = s.reaper.Start(ctx) // a reaper always starts
		<-ctx.Done()
		s.reaper.Stop()
	})
	if err := s.reaping.Start(ctx); err != nil {
		return err
	}
	s.gauges = startstop.Func(s.metricsLoop)
	if err := s.gauges.Start(ctx); err != nil {
		return err
	}
	if s.opts.Blobs != nil {
		s.sweeper = s.Singleton("blob-retention", s.sweepBlobs)
		return s.sweeper.Start(ctx)
	}
	return nil
}

// Singleton returns a service that runs fn on one replica at a time: with
// Options.Elect, only while this replica holds the lease name (fn's
// context ends when it loses it); otherwise always, in this process. The
// caller starts and stops it (the autoscaler plugs in here).
func (s *Server) Singleton(name string, fn func(ctx context.Context)) startstop.Service {
	if !s.opts.Elect {
		return startstop.Func(fn)
	}
	return leader.New(s.store, name, fn, leader.Options{TTL: s.opts.LeaderTTL, Holder: s.holder, Now: s.opts.Now, Log: s.log})
}

// Stop stops the background work and waits for it, so that the store can
// be closed after.
func (s *Server) Stop() {
	if s.sweeper != nil {
		s.sweeper.Stop()
	}
	if s.gauges != nil {
		s.gauges.Stop()
	}
	if s.reaping != nil {
		s.reaping.Stop()
	}
	s.reaper.Stop()
	if s.relay != nil {
		s.relay.Stop()
	}
}

// sweepBlobs deletes the blobs no job references that are older than the
// retention period: once at the start (an embedded grid lives for one
// command), then every retentionInterval.
func (s *Server) sweepBlobs(ctx context.Context) {
	t := time.NewTicker(retentionInterval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		res, err := s.SweepBlobs(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("blob retention: sweep failed; retrying at the next one", "err", err)
		} else if res.Deleted > 0 {
			s.log.Info("blob retention: deleted unreferenced blobs", "blobs", res.Deleted, "bytes", res.Bytes)
		}
	}
}

// SweepBlobs makes one retention pass now.
func (s *Server) SweepBlobs(ctx context.Context) (blob.SweepResult, error) {
	return blob.Sweep(ctx, s.opts.Blobs, s.opts.Now().Add(-s.opts.Retention), s.store.BlobsReferenced)
}

// Options are the server's settings, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// SweepGone settles at once what the gone workers p selects left (see
// scheduler.SweepGone).
func (s *Server) SweepGone(ctx context.Context, p scheduler.GoneParams) ([]string, error) {
	return s.sched.SweepGone(ctx, p)
}

// DeleteWorker removes a worker's registration, as a worker that is never
// seen again (an embedded rgrid run's) asks on its way out: store.ErrNotFound
// if unknown, store.ErrWorkerBusy while it holds jobs.
func (s *Server) DeleteWorker(ctx context.Context, id string) error {
	return s.store.DeleteWorker(ctx, id)
}

// Handler returns the API's routes, every request counted in the metrics.
// Every route has an access class (auth.go); the default-deny test walks
// them all.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes = nil
	h := func(pattern string, a access, f http.HandlerFunc) { s.handle(mux, pattern, a, f) }
	h("GET /v1/health", accessPublic, s.health)
	// Prometheus scrapes with an admin's token (open on an open server).
	h("GET /metrics", accessAdmin, s.serveMetrics().ServeHTTP)
	h("GET /v1/runtimes", accessAny, s.listRuntimes)
	h("GET /v1/whoami", accessAny, s.whoami)

	h("POST /v1/jobs", accessUser, s.submitJob)
	h("POST /v1/jobs/batch", accessUser, s.submitJobs)
	h("GET /v1/jobs", accessUser, s.listJobs)
	h("GET /v1/jobs/{id}", accessUser, s.getJob)
	h("POST /v1/jobs/{id}/cancel", accessUser, s.cancelJob)
	h("GET /v1/jobs/{id}/logs", accessUser, s.readLogs)
	h("GET /v1/jobs/{id}/logs/sse", accessUser, s.followSSE)
	h("GET /v1/jobs/{id}/logs/text", accessUser, s.logText)
	h("GET /v1/jobs/{id}/logs/ws", accessUser, s.followWS)

	h("POST /v1/batches", accessUser, s.submitBatch)
	h("GET /v1/batches", accessUser, s.listBatches)
	h("GET /v1/batches/{id}", accessUser, s.getBatch)
	h("PATCH /v1/batches/{id}", accessUser, s.updateBatch)
	h("GET /v1/batches/{id}/jobs", accessUser, s.batchJobs)
	h("POST /v1/batches/{id}/cancel", accessUser, s.cancelBatch)
	h("POST /v1/batches/{id}/retry", accessUser, s.retryBatch)

	h("GET /v1/jobs/{id}/inputs", accessUser, s.withBlobs(s.jobInputs))
	h("GET /v1/jobs/{id}/outputs", accessUser, s.withBlobs(s.jobOutputs))
	h("GET /v1/jobs/{id}/inputs/{path...}", accessUser, s.withBlobs(s.jobFile(false)))
	h("GET /v1/jobs/{id}/outputs/{path...}", accessUser, s.withBlobs(s.jobFile(true)))
	h("POST /v1/blobs/missing", accessAny, s.withBlobs(s.missingBlobs))
	h("PUT /v1/blobs/{hash}", accessAny, s.withBlobs(s.putBlob))
	h("GET /v1/blobs/{hash}", accessAny, s.withBlobs(s.getBlob))
	h("GET /v1/stats", accessAdmin, s.stats)
	h("GET /v1/cost", accessUser, s.costReport)

	h("GET /v1/users", accessAdmin, s.listUsers)
	h("POST /v1/users", accessAdmin, s.createUser)
	h("PATCH /v1/users/{name}", accessAdmin, s.setUserLimits)
	h("PUT /v1/users/{name}/budget", accessAdmin, s.setUserBudget)
	h("GET /v1/tokens", accessUser, s.listTokens)
	h("POST /v1/tokens", accessUser, s.createToken)
	h("DELETE /v1/tokens/{prefix}", accessUser, s.revokeToken)
	h("POST /v1/worker-tokens", accessAdmin, s.createWorkerToken)
	h("GET /v1/audit", accessAdmin, s.listAudit)
	h("GET /v1/pools", accessAdmin, s.listPools)
	h("PUT /v1/pools/{name}/budget", accessAdmin, s.setPoolBudget)
	h("GET /v1/pool-budgets", accessAdmin, s.listPoolBudgets)

	h("GET /v1/workers", accessUser, s.listWorkers)
	h("POST /v1/workers", accessWorker, s.registerWorker)
	h("POST /v1/workers/{id}/heartbeat", accessWorker, s.heartbeat)
	h("POST /v1/workers/{id}/lease", accessWorker, s.lease)
	h("POST /v1/workers/{id}/release", accessWorker, s.release)
	h("POST /v1/workers/{id}/reports", accessWorker, s.reports)
	h("GET /v1/jobs/{id}/attempts/{n}/log", accessWorker, s.attemptLog)
	h("POST /v1/jobs/{id}/attempts/{n}/start", accessWorker, s.startAttempt)
	h("POST /v1/jobs/{id}/attempts/{n}/logs", accessWorker, s.uploadLogs)
	h("POST /v1/jobs/{id}/attempts/{n}/result", accessWorker, s.reportResult)

	s.consoleRoutes(h)
	mux.HandleFunc("/", s.noRoute(mux))
	return s.instrument(mux)
}

// noRoute answers requests no route takes: 405 with Allow when the path
// exists for other methods (the catch-all matches before ServeMux would
// send its own plain-text 405), else 404.
func (s *Server) noRoute(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.WithContext(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, errorf(client.CodeMethodNotAllowed, "use "+strings.Join(allow, " or ")+" (see the README's API section)",
				"%s is not allowed on %s", r.Method, r.URL.Path).with("allow", allow))
			return
		}
		s.writeError(w, r, errorf(client.CodeNotFound,
			"the API lives under /v1/ (see the README's API section)", "no such endpoint: %s %s", r.Method, r.URL.Path))
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	v, err := s.store.SchemaVersion(ctx)
	if err != nil {
		s.log.Error("health check: database unreachable", "err", err)
		w.Header().Set("Retry-After", "2")
		s.writeError(w, r, errorf(client.CodeUnavailable,
			"check that the database is running and reachable from the server", "the server cannot reach its database"))
		return
	}
	writeJSON(w, http.StatusOK, client.Health{Status: "ok", Version: version.String(), SchemaVersion: v, Database: s.store.Dialect()})
}

func (s *Server) listRuntimes(w http.ResponseWriter, r *http.Request) {
	var out []client.Runtime
	for _, rt := range s.runtimes.All() {
		c := client.Runtime{Name: rt.Name, Image: rt.Image, Command: rt.Command, Extensions: rt.Extensions, AliasOf: rt.AliasOf}
		if rt.AliasOf != "" {
			target, err := s.runtimes.Resolve(rt.Name)
			if err == nil {
				c.Image, c.Command = target.Image, target.Command
			}
		}
		c.Default = rt.Name == runtimes.DefaultName
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"runtimes": out})
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newJobID makes a time-ordered id: 48 bits of milliseconds then 48 random
// bits, in Crockford-style base32, e.g. "job_06h0mrn31c6eag6cq4x0". A
// thousand ids in one millisecond (a batch) collide with odds of about
// 1 in 500 million.
func newJobID(now time.Time) string { return newID("job_", now) }

// newID is newJobID with another prefix ("bat_" for a batch).
func newID(prefix string, now time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return prefix + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
