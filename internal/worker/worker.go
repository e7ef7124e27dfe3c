// Package worker is the agent that runs on each machine: it registers with
// the server, heartbeats, long-polls for jobs, runs each through an
// Executor, ships stdout and stderr as they are produced, and reports the
// result. It talks to the server only through the public client.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/version"
)

// Options configure a Worker.
type Options struct {
	ID       string
	Name     string
	Slots    int
	Executor executor.Executor
	Log      *slog.Logger

	// Defaults apply to a job that sets no limit of its own.
	Defaults executor.Limits
	// Max is the most a job may ask of this worker (zero fields: no
	// maximum); the server hands out only jobs that fit.
	Max executor.Limits
	// MaxLogBytes caps each attempt's output when the job carries no limit
	// of its own (default 10 MiB).
	MaxLogBytes int64
	// LeaseWait is how long a lease request may be held (default 30 s).
	LeaseWait time.Duration

	// BlobCacheDir keeps the input blobs this worker fetched (default a
	// directory under the system's temporary one), up to BlobCacheBytes
	// (default 10 GiB).
	BlobCacheDir   string
	BlobCacheBytes int64
	// MaxOutputFiles and MaxOutputBytes cap what is collected of a job's
	// outputs (default 10,000 files, 1 GiB); the rest is listed as left
	// out.
	MaxOutputFiles int
	MaxOutputBytes int64
	// JobMountPoint is where jobs see their working directory ("/work" in
	// a container); a link a job made to an absolute path under it is
	// collected as a relative link.
	JobMountPoint string
	// Instance is the nonce by which the server tells this worker process
	// from another using the same ID (default: a new one; see IDLock).
	Instance string
	// ReconcileInterval is how often the executor's runs that no attempt
	// of this worker holds are removed, besides at start (default
	// DefaultReconcileInterval; negative: only at start), sparing those
	// made in the last ReconcileGrace (default DefaultReconcileGrace).
	ReconcileInterval, ReconcileGrace time.Duration
	// Pricing is what this worker costs, sent when it registers; nil for
	// an unpriced worker.
	Pricing *client.Pricing
}

// The periodic reconciler's defaults.
const (
	DefaultReconcileInterval = time.Minute
	DefaultReconcileGrace    = time.Minute
)

// callTimeout bounds each call to the server (beyond a long poll's own
// wait), so that a partition that drops packets is noticed and retried
// instead of hanging a loop.
const callTimeout = 30 * time.Second

// Worker is one worker agent.
type Worker struct {
	c        *client.Client
	opts     Options
	log      *slog.Logger
	reporter *reporter
	blobs    *blobCache
	inputs   *leasedInputs
	metrics  *metrics

	heartbeat time.Duration
	deadAfter time.Duration // the server's: after this long unheard, our jobs are given away

	mu       sync.Mutex
	running  map[client.AttemptRef]*attempt
	freed    chan struct{} // signalled when a slot frees
	draining bool
	lastAck  time.Time // the last heartbeat the server acknowledged
	// sentWarm is the warm count the server last acknowledged (-1: none
	// yet): a heartbeat carries the count only when it changed.
	sentWarm int

	idLost    chan struct{} // closed once another worker process holds this worker's id
	idLostErr error         // why; set before idLost is closed
}

// New returns a worker that talks to the server through c.
func New(c *client.Client, opts Options) (*Worker, error) {
	if opts.ID == "" {
		return nil, errors.New("worker id is required")
	}
	if opts.Slots < 1 {
		return nil, fmt.Errorf("slots must be at least 1, got %d", opts.Slots)
	}
	if opts.Executor == nil {
		return nil, errors.New("an executor is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxLogBytes <= 0 {
		opts.MaxLogBytes = 10 << 20
	}
	if opts.LeaseWait <= 0 {
		opts.LeaseWait = 30 * time.Second
	}
	if opts.Name == "" {
		opts.Name = opts.ID
	}
	if opts.BlobCacheDir == "" {
		opts.BlobCacheDir = filepath.Join(os.TempDir(), "rgrid-blobs-"+pathSafe(opts.ID))
	}
	if opts.BlobCacheBytes <= 0 {
		opts.BlobCacheBytes = 10 << 30
	}
	if opts.Instance == "" {
		opts.Instance = NewInstance()
	}
	if opts.ReconcileInterval == 0 {
		opts.ReconcileInterval = DefaultReconcileInterval
	}
	if opts.ReconcileGrace <= 0 {
		opts.ReconcileGrace = DefaultReconcileGrace
	}
	c = c.WithWorkerInstance(opts.Instance)
	w := &Worker{
		c: c, opts: opts, log: opts.Log.With("worker", opts.ID),
		inputs:    newLeasedInputs(),
		heartbeat: 5 * time.Second,
		deadAfter: 15 * time.Second,
		sentWarm:  -1,
		running:   map[client.AttemptRef]*attempt{},
		freed:     make(chan struct{}, 1),
		idLost:    make(chan struct{}),
		reporter:  newReporter(c, opts.ID),
		blobs:     newBlobCache(c, opts.BlobCacheDir, opts.BlobCacheBytes),
	}
	w.metrics = newMetrics(w)
	return w, nil
}

// Run registers and works until ctx ends, then drains: it takes no new
// jobs, keeps heartbeating, and returns when the running jobs have finished
// and reported. Abort cuts the drain short. If another worker process
// holds this worker's id (see idTaken), Run kills the jobs and returns the
// server's refusal.
func (w *Worker) Run(ctx context.Context) error {
	// Everything that must outlive ctx during the drain runs under bg.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()

	if err := w.register(ctx); err != nil {
		return err
	}
	jobs := &sync.WaitGroup{}
	w.recover(bg, jobs)
	// The loops that outlive the lease loop, through the drain: stopped,
	// and waited for, once the jobs are done.
	var loops startstop.Group
	defer loops.Stop()
	_ = loops.Start(bg, w.reporter)
	loops.Go(bg, w.heartbeatLoop)
	loops.Go(bg, w.stopLoop)
	loops.Go(bg, w.reconcileLoop)

	leaseCtx, stopLeasing := context.WithCancel(ctx)
	defer stopLeasing()
	loops.Go(leaseCtx, func(ctx context.Context) {
		select {
		case <-w.idLost:
			stopLeasing() // also ends a lease request being held
		case <-ctx.Done():
		}
	})
	w.leaseLoop(leaseCtx, bg, jobs)
	if ctx.Err() != nil && !w.lostID() {
		w.mu.Lock()
		w.draining = true
		w.mu.Unlock()
		w.log.Info("draining: no new jobs; waiting for running ones", "running", w.runningCount())
		w.sendHeartbeat(bg) // tell the server at once
	}
	jobs.Wait()
	stopLeasing()
	loops.Stop()
	if w.lostID() {
		// No release: the attempts held under this id now are the other
		// process's (and the server refuses it).
		return fmt.Errorf("stopped: %w", w.idLostErr)
	}
	// A lease answered while the last lease request was being cancelled
	// never reached this worker; hand any such attempt back now rather
	// than when this worker is declared dead.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.c.Release(rctx, w.opts.ID, client.ReleaseRequest{
		Message: fmt.Sprintf("worker %s stopped; the lease never reached it", w.opts.ID),
	}); err != nil {
		w.log.Debug("release on exit failed", "err", err)
	}
	w.log.Info("worker stopped")
	return nil
}

// Abort stops at once: it hands every running attempt back to the queue
// (so other workers take them) and kills them.
func (w *Worker) Abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Release(ctx, w.opts.ID, client.ReleaseRequest{
		Message: fmt.Sprintf("worker %s was stopped before the job ended", w.opts.ID),
	}); err != nil {
		w.log.Warn("could not hand the running jobs back; the server will take them when this worker is declared dead", "err", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.running {
		a.kill(killAborted)
	}
}

func (w *Worker) register(ctx context.Context) error {
	b := newBackoff()
	for {
		err := w.registerOnce(ctx)
		if err == nil {
			return nil
		}
		var apiErr *client.Error
		if errors.As(err, &apiErr) && apiErr.Status/100 == 4 {
			return fmt.Errorf("the server refused to register this worker: %w", err)
		}
		if client.IsCertificateError(err) {
			// This worker's --ca-cert or the server's certificate must
			// change; retrying would only hide that.
			return fmt.Errorf("register with the server: %w", err)
		}
		w.log.Warn("cannot reach the server; retrying", "server", redactedURL(w.c.BaseURL()), "err", err)
		if !b.wait(ctx) {
			return ctx.Err()
		}
	}
}

func (w *Worker) registerOnce(ctx context.Context) error {
	host, _ := os.Hostname()
	rctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := w.c.Register(rctx, client.RegisterRequest{
		ID: w.opts.ID, Name: w.opts.Name, Hostname: host, Version: version.String(),
		Executor: w.opts.Executor.Name(), Slots: w.opts.Slots, Max: toClientLimits(w.opts.Max),
		Pricing: w.opts.Pricing,
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	if resp.HeartbeatIntervalSeconds > 0 {
		w.heartbeat = time.Duration(resp.HeartbeatIntervalSeconds) * time.Second
	}
	if resp.DeadAfterSeconds > 0 {
		w.deadAfter = time.Duration(resp.DeadAfterSeconds) * time.Second
	}
	w.lastAck = time.Now()
	w.mu.Unlock()
	w.log.Info("registered", "server", redactedURL(w.c.Server()), "slots", w.opts.Slots, "executor", w.opts.Executor.Name())
	return nil
}

// idTaken handles the server's word that another worker process has
// registered this worker's id since this one did. That happens when this
// process was cut off past the dead-after interval, its jobs were given
// away, and another took the id (a second process started with the same
// id, a cloned machine). It registers again, which the server allows only
// if that other process is dead too; else this worker stops rather than
// fight over the id: it kills its jobs without reporting them (the server
// gave them away), leases nothing more, and Run returns the refusal. It
// reports whether this worker registered again.
func (w *Worker) idTaken(ctx context.Context) (registered bool) {
	if w.lostID() {
		return false
	}
	err := w.registerOnce(ctx)
	switch {
	case err == nil:
		w.log.Warn("another worker process had registered this worker's id and is gone; registered again")
		return true
	case !client.IsCode(err, client.CodeWorkerIDInUse):
		w.log.Warn("another worker process registered this worker's id; cannot register again yet", "err", err)
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lostID() {
		return false
	}
	w.idLostErr = err
	close(w.idLost)
	w.log.Error("stopping: another worker process holds this worker's id; its jobs here are killed",
		"err", err, "running", len(w.running))
	for _, a := range w.running {
		a.kill(killIDTaken)
	}
	return false
}

// lostID reports whether another worker process holds this worker's id.
func (w *Worker) lostID() bool {
	select {
	case <-w.idLost:
		return true
	default:
		return false
	}
}

func (w *Worker) runningRefs() []client.AttemptRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	refs := make([]client.AttemptRef, 0, len(w.running))
	for r := range w.running {
		refs = append(refs, r)
	}
	return refs
}

func (w *Worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

func (w *Worker) heartbeatLoop(ctx context.Context) {
	w.mu.Lock()
	interval := w.heartbeat
	w.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	// A change in the count of warm containers is reported soon after it
	// settles (so that rgrid workers, and a bench waiting for a warm
	// container, do not read a count a heartbeat old), at most once per
	// warmReportSpacing on top of the heartbeats.
	var changes <-chan struct{}
	if p, ok := w.opts.Executor.(warmPool); ok {
		changes = p.WarmChanged()
	}
	var soon <-chan time.Time
	var lastReport time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			if soon == nil {
				soon = time.After(max(warmReportDelay, time.Until(lastReport.Add(warmReportSpacing))))
			}
			continue
		case <-soon:
			soon = nil
			w.mu.Lock()
			sent := w.sentWarm
			w.mu.Unlock()
			if w.opts.Executor.(warmPool).Warm() == sent {
				continue // settled where it was
			}
			lastReport = time.Now()
			hctx, cancel := context.WithTimeout(ctx, interval)
			w.sendHeartbeat(hctx)
			cancel()
			continue
		case <-t.C:
		}
		w.giveUpIfSilent(interval)
		// Bounded by the interval: a request lost in a partition must not
		// hold up the next heartbeat, nor the check above.
		hctx, cancel := context.WithTimeout(ctx, interval)
		w.sendHeartbeat(hctx)
		cancel()
	}
}

// giveUpIfSilent kills the running jobs once the server has not
// acknowledged a heartbeat for its dead-after interval less one heartbeat:
// by then it has given them to other workers (or will at its next scan), so
// they are killed here rather than run twice. They are not reported; the
// server takes the attempts back.
func (w *Worker) giveUpIfSilent(interval time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	silent := time.Since(w.lastAck)
	if silent <= w.deadAfter-interval {
		return
	}
	for _, a := range w.running {
		if a.killReason() == killNone {
			w.log.Warn("killing: the server has not heard from this worker for its dead-after interval and gives the job to another worker",
				"job", a.ref.JobID, "attempt", a.ref.Attempt, "unacknowledged_for", silent.Round(time.Second))
		}
		a.kill(killLost)
	}
}

// warmPool is an executor that keeps warm containers (the Docker
// executor's pool); the heartbeat reports how many wait, and a change is
// reported warmReportDelay after WarmChanged says so, at most once per
// warmReportSpacing.
type warmPool interface {
	Warm() int
	WarmChanged() <-chan struct{}
}

const (
	warmReportDelay   = 100 * time.Millisecond
	warmReportSpacing = time.Second
)

// sendHeartbeat reports the running attempts and stops those the server
// names.
func (w *Worker) sendHeartbeat(ctx context.Context) {
	w.mu.Lock()
	draining := w.draining
	w.mu.Unlock()
	req := client.HeartbeatRequest{Running: w.runningRefs(), Draining: draining}
	w.mu.Lock()
	sent := w.sentWarm
	w.mu.Unlock()
	if p, ok := w.opts.Executor.(warmPool); ok {
		// None kept, none said: a worker without a pool sends no count
		// (a server older than the count refuses fields it does not know).
		if n := p.Warm(); n != sent && (sent >= 0 || n > 0) {
			req.Warm = &n
		}
	}
	resp, err := w.c.Heartbeat(ctx, w.opts.ID, req)
	if err == nil && req.Warm != nil {
		w.mu.Lock()
		w.sentWarm = *req.Warm
		w.mu.Unlock()
	}
	switch {
	case client.IsCode(err, client.CodeNotFound):
		w.log.Warn("server forgot this worker; registering again")
		w.mu.Lock()
		w.sentWarm = -1
		w.mu.Unlock()
		_ = w.register(ctx)
	case client.IsCode(err, client.CodeWorkerIDInUse):
		w.idTaken(ctx)
	case err != nil:
		w.mu.Lock()
		silent := time.Since(w.lastAck)
		w.mu.Unlock()
		w.log.Warn("heartbeat failed", "err", err, "unacknowledged_for", silent.Round(time.Second))
	default:
		w.mu.Lock()
		w.lastAck = time.Now()
		w.mu.Unlock()
		w.stop(resp.Stop)
	}
}

// stopLoop long-polls for attempts to stop, so that a cancel reaches a
// busy worker at once rather than at its next heartbeat.
func (w *Worker) stopLoop(ctx context.Context) {
	b := newBackoff()
	for ctx.Err() == nil {
		lctx, cancel := context.WithTimeout(ctx, w.opts.LeaseWait+callTimeout)
		resp, err := w.c.Lease(lctx, w.opts.ID, client.LeaseRequest{Max: 0, WaitSeconds: int(w.opts.LeaseWait / time.Second)})
		cancel()
		if client.IsCode(err, client.CodeWorkerIDInUse) {
			w.idTaken(ctx)
		}
		if err != nil {
			if !b.wait(ctx) {
				return
			}
			continue
		}
		b.reset()
		if len(resp.Stop) > 0 && !w.stop(resp.Stop) {
			// Only attempts already being stopped: the server names them
			// until they end, and asking again at once would spin.
			select {
			case <-ctx.Done():
			case <-time.After(stopRepeat):
			}
		}
	}
}

// stopRepeat is how long the stop loop waits before asking again when the
// server names only attempts this worker is already stopping.
const stopRepeat = 500 * time.Millisecond

// stop kills the running attempts refs names, and reports whether any of
// them was not already being stopped.
func (w *Worker) stop(refs []client.AttemptRef) (started bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range refs {
		if a, ok := w.running[r]; ok && a.killReason() == killNone {
			w.log.Info("stopping attempt at the server's request", "job", r.JobID, "attempt", r.Attempt)
			a.kill(killStopped)
			started = true
		}
	}
	return started
}

// leaseLoop asks for as many jobs as there are free slots until ctx ends
// and starts each in jobs.
func (w *Worker) leaseLoop(ctx, bg context.Context, jobs *sync.WaitGroup) {
	b := newBackoff()
	busy := false // the last lease found jobs: the queue is likely not empty
	for ctx.Err() == nil {
		w.mu.Lock()
		free := w.opts.Slots - len(w.running)
		w.mu.Unlock()
		if free <= 0 {
			select {
			case <-ctx.Done():
			case <-w.freed:
			}
			continue
		}
		if busy && free < (w.opts.Slots+1)/2 {
			// A busy queue and few free slots: let a few more free up
			// (briefly) and lease them together, rather than one lease
			// request per finished job.
			t := time.NewTimer(leaseCooldown)
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-w.freed:
				t.Stop()
				continue
			}
		}
		lctx, cancel := context.WithTimeout(ctx, w.opts.LeaseWait+callTimeout)
		resp, err := w.c.Lease(lctx, w.opts.ID, client.LeaseRequest{
			Max: free, WaitSeconds: int(w.opts.LeaseWait / time.Second),
			Defaults: toClientLimits(w.opts.Defaults), Fits: toClientLimits(w.opts.Max),
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if client.IsCode(err, client.CodeNotFound) {
				_ = w.register(ctx)
				continue
			}
			if client.IsCode(err, client.CodeWorkerIDInUse) {
				if w.idTaken(ctx) {
					continue
				}
				if w.lostID() {
					break
				}
			}
			w.log.Warn("lease failed; retrying", "err", err)
			b.wait(ctx)
			continue
		}
		b.reset()
		busy = len(resp.Jobs) > 0
		for _, lj := range resp.Jobs {
			a := w.track(lj)
			jobs.Go(func() { w.runAttempt(bg, a) })
		}
		w.stop(resp.Stop)
	}
}

// leaseCooldown is the longest a worker with free slots waits for more
// to free up before leasing, while the queue is busy.
const leaseCooldown = 5 * time.Millisecond

func (w *Worker) track(lj client.LeasedJob) *attempt {
	a := newAttempt(lj)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running[a.ref] = a
	if w.lostID() {
		a.kill(killIDTaken) // leased under an id this process no longer holds
	}
	return a
}

func (w *Worker) untrack(a *attempt) {
	w.mu.Lock()
	delete(w.running, a.ref)
	w.mu.Unlock()
	select {
	case w.freed <- struct{}{}:
	default:
	}
}

func toClientLimits(l executor.Limits) client.Limits {
	return client.Limits{
		MemoryBytes: l.MemoryBytes, CPUs: l.CPUs, Pids: l.Pids,
		TimeoutSeconds: int64((l.Timeout + time.Second - 1) / time.Second), DiskBytes: l.DiskBytes,
	}
}
