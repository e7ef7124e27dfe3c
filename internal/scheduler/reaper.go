package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/store"
)

// ReaperOptions configure the reaper. Zero values take the defaults.
type ReaperOptions struct {
	// DeadAfter is how long a worker may be silent before it is dead and
	// its jobs are given to others (default 15 s).
	DeadAfter time.Duration
	// Interval is how often the reaper looks (default 2 s).
	Interval time.Duration
	// TimeoutGrace is how long past its time limit a job may run before
	// the server ends it, for a worker that stopped enforcing it
	// (default 30 s).
	TimeoutGrace time.Duration
}

// Reaper ends what nobody else will: attempts of dead workers (queued
// again while attempts remain) and jobs running far past their time limit.
// After it starts it waits one DeadAfter before declaring any worker dead,
// so a restarted server does not take jobs from workers that simply could
// not reach it while it was down.
type Reaper struct {
	startstop.Base
	s     *Scheduler
	opts  ReaperOptions
	start time.Time
}

// NewReaper returns a reaper over the scheduler's store.
func (s *Scheduler) NewReaper(opts ReaperOptions) *Reaper {
	if opts.DeadAfter <= 0 {
		opts.DeadAfter = 15 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.TimeoutGrace <= 0 {
		opts.TimeoutGrace = 30 * time.Second
	}
	return &Reaper{s: s, opts: opts}
}

// Begin records when the server started; no worker is declared dead
// before one DeadAfter has passed since. Start calls it.
func (r *Reaper) Begin(at time.Time) { r.start = at }

// Start reaps every Interval until ctx ends or Stop.
func (r *Reaper) Start(ctx context.Context) error {
	ctx, ok, done := r.StartInit(ctx)
	if !ok {
		return nil
	}
	r.Begin(r.s.now())
	go func() {
		defer done()
		r.run(ctx)
	}()
	return nil
}

func (r *Reaper) run(ctx context.Context) {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.Reap(ctx); err != nil && ctx.Err() == nil {
			r.s.log.Warn("reaper: pass failed; retrying at the next one", "err", err)
		}
	}
}

// Reap makes one pass. It is safe to run on several server replicas at
// once: every change it makes is one transaction that re-checks its rows.
func (r *Reaper) Reap(ctx context.Context) error {
	now := r.s.now()
	if now.Sub(r.start) < r.opts.DeadAfter {
		return nil // give every worker one interval to reach this server
	}
	if _, err := r.s.store.MarkDeadWorkers(ctx, now.Add(-r.opts.DeadAfter)); err != nil {
		return fmt.Errorf("mark dead workers: %w", err)
	}
	workers, err := r.s.store.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("list workers: %w", err)
	}
	for _, w := range workers {
		if w.State != "dead" || w.SlotsInUse == 0 {
			continue
		}
		msg := fmt.Sprintf("worker %s stopped responding: last heard from at %s, %s before it was declared dead",
			w.ID, w.LastHeartbeat.UTC().Format(time.TimeOnly+" MST"), now.Sub(w.LastHeartbeat).Round(time.Second))
		jobs, err := r.s.store.LoseAttempts(ctx, store.LoseParams{
			WorkerID: w.ID, Reason: "worker_lost", Message: msg, Now: now,
		})
		if err != nil {
			return fmt.Errorf("take back the jobs of worker %s: %w", w.ID, err)
		}
		r.s.log.Warn("worker is dead; its jobs were taken back", "worker", w.ID,
			"last_heartbeat", w.LastHeartbeat, "jobs", len(jobs))
		r.s.attemptsLost("worker_lost", jobs)
		r.s.jobsChanged(jobs)
	}
	expired, err := r.s.store.ExpireOverdue(ctx, now, r.opts.TimeoutGrace)
	if err != nil {
		return fmt.Errorf("expire overdue jobs: %w", err)
	}
	for _, j := range expired {
		r.s.log.Warn("job ran past its time limit and its worker did not stop it", "job", j.ID, "worker", j.WorkerID)
		if j.WorkerID != "" {
			r.s.StopRequested(j.WorkerID)
		}
	}
	if r.s.observer != nil && len(expired) > 0 {
		r.s.observer.JobsExpired(expired)
	}
	r.s.jobsChanged(expired)
	return nil
}

// jobsChanged wakes followers of the jobs, and lease requests if any job
// is queued again.
func (s *Scheduler) jobsChanged(jobs []store.Job) {
	queued := false
	for _, j := range jobs {
		s.JobChanged(j.ID)
		queued = queued || j.State == store.StateQueued || j.BatchID != "" // an item's end frees a place in its batch
		s.log.Info("job taken back", slog.String("job", j.ID), slog.String("state", string(j.State)), slog.Int("attempt", j.Attempt))
	}
	if queued {
		s.JobQueued()
	}
}

// Reconcile takes back the attempts the server leased to a worker that the
// worker does not report running: a lease response lost on its way, or a
// worker restarted without the attempt. Only attempts leased before
// leasedBefore are taken, so a lease still in flight is left alone.
func (s *Scheduler) Reconcile(ctx context.Context, workerID string, running []store.AttemptRef, leasedBefore time.Time) error {
	jobs, err := s.store.LoseAttempts(ctx, store.LoseParams{
		WorkerID: workerID, Keep: running, LeasedBefore: leasedBefore, Reason: "worker_dropped",
		Message: fmt.Sprintf("worker %s no longer runs this attempt (it restarted, or the lease never reached it)", workerID),
		Now:     s.now(),
	})
	if err != nil {
		return err
	}
	if len(jobs) > 0 {
		s.log.Warn("worker does not run attempts leased to it; taken back", "worker", workerID, "jobs", len(jobs))
	}
	s.attemptsLost("worker_dropped", jobs)
	s.jobsChanged(jobs)
	return nil
}

// Release hands every active attempt of a worker back to the queue, at
// the worker's request (it is stopping at once).
func (s *Scheduler) Release(ctx context.Context, workerID, message string) ([]store.Job, error) {
	jobs, err := s.store.LoseAttempts(ctx, store.LoseParams{
		WorkerID: workerID, Reason: "worker_stopped", Message: message, Now: s.now(),
	})
	if err != nil {
		return nil, err
	}
	s.attemptsLost("worker_stopped", jobs)
	s.jobsChanged(jobs)
	return jobs, nil
}

// GoneParams select the workers SweepGone settles.
type GoneParams struct {
	Name  string        // only workers registered under this name
	After time.Duration // silent for longer than this
	// Message is the message of their jobs that end lost.
	Message func(workerID string, lastHeard time.Time) string
}

// SweepGone settles at once what gone workers left, without the reaper's
// wait after a start: the jobs of the workers p selects end lost (or queue
// again while attempts remain) with p's message, and their registrations
// are removed (one that comes back registers again). It returns the
// workers' ids. An embedded grid sweeps its data directory's embedded
// workers this way when it starts: one whose rgrid run was killed never
// comes back.
func (s *Scheduler) SweepGone(ctx context.Context, p GoneParams) ([]string, error) {
	now := s.now()
	workers, err := s.store.ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	var gone []string
	for _, w := range workers {
		if w.Name != p.Name || now.Sub(w.LastHeartbeat) <= p.After {
			continue
		}
		if w.SlotsInUse > 0 {
			jobs, err := s.store.LoseAttempts(ctx, store.LoseParams{WorkerID: w.ID, Reason: "worker_lost",
				Message: p.Message(w.ID, w.LastHeartbeat), Now: now})
			if err != nil {
				return gone, fmt.Errorf("take back the jobs of worker %s: %w", w.ID, err)
			}
			s.attemptsLost("worker_lost", jobs)
			s.jobsChanged(jobs)
		}
		if err := s.store.DeleteWorker(ctx, w.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return gone, fmt.Errorf("remove worker %s: %w", w.ID, err)
		}
		gone = append(gone, w.ID)
	}
	return gone, nil
}
