// Package scheduler hands queued jobs to workers: it claims jobs in the
// store (the claim itself is one transaction there, so two workers never get
// the same job), long-polls when there is nothing to hand out, and tells
// workers which of their attempts to stop.
package scheduler

import (
	"context"
	"log/slog"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// Scheduler leases jobs to workers.
type Scheduler struct {
	store  store.Store
	notify *Notifier
	log    *slog.Logger
	now    func() time.Time
	// PollInterval bounds how long a waiting lease goes without looking at
	// the store, for changes made by another server replica.
	pollInterval time.Duration
	observer     Observer
}

// Observer hears of the state changes the scheduler makes itself (the
// server's metrics count them). Its methods must not block.
type Observer interface {
	// AttemptsLost: each job lost its active attempt, for reason (a
	// LoseParams reason: worker_lost, worker_dropped, worker_stopped),
	// and is as it is now: queued again, or ended.
	AttemptsLost(reason string, jobs []store.Job)
	// JobsExpired: the server ended these running jobs, past their time
	// limit and its grace.
	JobsExpired(jobs []store.Job)
}

// WithObserver sets who hears of the scheduler's own state changes, and
// returns s.
func (s *Scheduler) WithObserver(o Observer) *Scheduler {
	s.observer = o
	return s
}

func (s *Scheduler) attemptsLost(reason string, jobs []store.Job) {
	if s.observer != nil && len(jobs) > 0 {
		s.observer.AttemptsLost(reason, jobs)
	}
}

// New returns a scheduler over st. now may be nil for time.Now.
func New(st store.Store, n *Notifier, log *slog.Logger, now func() time.Time) *Scheduler {
	if now == nil {
		now = time.Now
	}
	return &Scheduler{store: st, notify: n, log: log, now: now, pollInterval: time.Second}
}

// WithPollInterval sets how long a waiting lease goes without looking at
// the store when nothing wakes it (default 1 s), and returns s.
func (s *Scheduler) WithPollInterval(d time.Duration) *Scheduler {
	if d > 0 {
		s.pollInterval = d
	}
	return s
}

// Lease is what one lease request gets.
type Lease struct {
	Jobs []store.Job
	Stop []store.AttemptRef
}

// LeaseParams describe one lease request.
type LeaseParams struct {
	WorkerID string
	Max      int           // jobs wanted; 0 asks only for attempts to stop
	Wait     time.Duration // how long to hold the request when there is nothing
	Fits     store.Limits  // the worker's maxima
	Defaults store.Limits  // the worker's defaults, recorded on each job
	// OwnerCap is the running limit of each owner that has one (see
	// store.ClaimParams).
	OwnerCap map[string]int
	// Pricing and Slots are the worker's, what its attempts are charged
	// by (see store.ClaimParams).
	Pricing store.Pricing
	Slots   int
	// Pool is the worker's pool: a claim holds against its budget (see
	// store.ClaimParams).
	Pool string
}

// claimTimeout bounds one claim statement, which runs to its end even
// when the lease's request ends meanwhile.
const claimTimeout = 5 * time.Second

// Lease claims up to p.Max jobs for the worker, waiting up to p.Wait for
// one to be queued. It returns early with the attempts the worker must
// stop, if any. An empty Lease after the wait is normal.
func (s *Scheduler) Lease(ctx context.Context, p LeaseParams) (Lease, error) {
	workerID, max := p.WorkerID, p.Max
	deadline := time.NewTimer(p.Wait)
	defer deadline.Stop()
	for {
		// Take the channels before looking, so no wake-up falls in between.
		queued := s.notify.Chan(TopicQueued)
		stopCh := s.notify.Chan(WorkerTopic(workerID))

		var l Lease
		var err error
		l.Stop, err = s.store.AttemptsToStop(ctx, workerID)
		if err != nil {
			return Lease{}, err
		}
		if max > 0 && ctx.Err() == nil {
			// Not cancelled half-way: a claim the database committed while
			// the request ended (a replica's shutdown) would be lost to the
			// worker, its attempts taken back only at the worker's next
			// report. It is one statement, bounded on its own.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
			l.Jobs, err = s.store.ClaimJobs(cctx, store.ClaimParams{
				WorkerID: workerID, Max: max, Fits: p.Fits, Defaults: p.Defaults, OwnerCap: p.OwnerCap,
				Pricing: p.Pricing, Slots: p.Slots, Pool: p.Pool, Now: s.now(),
			})
			cancel()
			if err != nil {
				return Lease{}, err
			}
			for _, j := range l.Jobs {
				s.notify.Notify(JobTopic(j.ID))
			}
		}
		if len(l.Jobs) > 0 || len(l.Stop) > 0 {
			return l, nil
		}
		if max <= 0 {
			queued = nil // nothing to claim: only stop requests wake us
		}
		poll := time.NewTimer(s.pollInterval)
		select {
		case <-ctx.Done():
			poll.Stop()
			return Lease{}, nil
		case <-deadline.C:
			poll.Stop()
			return Lease{}, nil
		case <-queued:
		case <-stopCh:
		case <-poll.C:
		}
		poll.Stop()
	}
}

// JobQueued wakes waiting lease requests.
func (s *Scheduler) JobQueued() { s.notify.Notify(TopicQueued) }

// JobChanged wakes followers of a job's log and state.
func (s *Scheduler) JobChanged(id string) { s.notify.Notify(JobTopic(id)) }

// StopRequested wakes the worker that runs an attempt to be stopped.
func (s *Scheduler) StopRequested(workerID string) { s.notify.Notify(WorkerTopic(workerID)) }

// WaitJob returns a channel closed at the job's next change.
func (s *Scheduler) WaitJob(id string) <-chan struct{} { return s.notify.Chan(JobTopic(id)) }
