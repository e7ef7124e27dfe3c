package worker

import (
	"context"
	"sync"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/executor"
)

// recover takes over the runs an earlier process of this worker left (a
// worker killed and restarted while its containers ran): the server says
// which attempts are still current; those are adopted and finish once, on
// the same container, shipping their output from where the server's copy
// ends; the rest are removed. Executors whose runs die with the worker
// (process) have nothing to recover.
func (w *Worker) recover(ctx context.Context, jobs *sync.WaitGroup) {
	rec, ok := w.opts.Executor.(executor.Recoverer)
	if !ok {
		return
	}
	found, err := rec.Find(ctx)
	if err != nil {
		w.log.Warn("could not look for runs left by an earlier start", "err", err)
		return
	}
	refs := make([]client.AttemptRef, 0, len(found))
	for _, f := range found {
		refs = append(refs, client.AttemptRef{JobID: f.JobID, Attempt: f.Attempt})
	}
	keep := map[client.AttemptRef]bool{}
	if len(refs) > 0 {
		// The heartbeat both asks which of these are current (Stop lists the
		// others) and tells the server this worker still runs them.
		hctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := w.c.Heartbeat(hctx, w.opts.ID, client.HeartbeatRequest{Running: refs})
		cancel()
		if err != nil {
			w.log.Warn("could not ask the server about runs left by an earlier start; removing them", "err", err)
		} else {
			for _, r := range refs {
				keep[r] = true
			}
			for _, r := range resp.Stop {
				delete(keep, r)
			}
		}
	}
	for _, f := range found {
		ref := client.AttemptRef{JobID: f.JobID, Attempt: f.Attempt}
		if !keep[ref] {
			continue
		}
		if err := w.adopt(ctx, rec, f, jobs); err != nil {
			w.log.Warn("could not adopt a run left by an earlier start; removing it", "job", f.JobID, "attempt", f.Attempt, "err", err)
			delete(keep, ref)
		}
	}
	n, err := rec.RemoveOrphans(ctx, func(jobID string, attempt int) bool {
		return keep[client.AttemptRef{JobID: jobID, Attempt: attempt}]
	})
	if err != nil {
		w.log.Warn("could not remove runs left by an earlier start", "err", err)
	} else if n > 0 {
		w.log.Info("removed runs left by an earlier start", "count", n)
	}
}

// adopt takes over one found run and supervises it like a started one.
func (w *Worker) adopt(ctx context.Context, rec executor.Recoverer, f executor.Found, jobs *sync.WaitGroup) error {
	ref := client.AttemptRef{JobID: f.JobID, Attempt: f.Attempt}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	job, err := w.c.Job(cctx, f.JobID)
	if err != nil {
		return err
	}
	offsets, err := w.c.AttemptLog(cctx, ref)
	if err != nil {
		return err
	}
	a := w.track(client.LeasedJob{Job: job, Attempt: f.Attempt})
	ship := newShipper(w.c, ref, w.logLimit(job), func() { a.kill(killStopped) })
	ship.resume(offsets.Streams)
	spec := executor.Spec{
		JobID: f.JobID, Attempt: f.Attempt, WorkerID: w.opts.ID, FileName: job.FileName,
		Limits: w.limits(job.Limits), Network: job.Network,
		Stdout: ship.writer(client.Stdout), Stderr: ship.writer(client.Stderr), System: ship.writer(client.System),
	}
	h, err := rec.Adopt(ctx, f, spec, offsets.Streams[client.Stdout].Bytes, offsets.Streams[client.Stderr].Bytes)
	if err != nil {
		w.untrack(a)
		return err
	}
	w.log.Info("adopted a run left by an earlier start", "job", f.JobID, "attempt", f.Attempt,
		"stdout_from", offsets.Streams[client.Stdout].Bytes, "stderr_from", offsets.Streams[client.Stderr].Bytes)
	jobs.Go(func() {
		defer w.untrack(a)
		_ = ship.Start(ctx)
		defer ship.Stop()
		w.supervise(ctx, a, h, ship)
	})
	return nil
}

// reconcileLoop removes, every ReconcileInterval, the executor's runs of
// this worker that no attempt it runs holds (a container whose removal
// failed, one of an attempt the server gave away), sparing those made in
// the last ReconcileGrace: an attempt being started may have made its
// container before this look.
func (w *Worker) reconcileLoop(ctx context.Context) {
	rec, ok := w.opts.Executor.(executor.Reconciler)
	if !ok || w.opts.ReconcileInterval < 0 {
		return
	}
	t := time.NewTicker(w.opts.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.reconcile(ctx, rec)
	}
}

// reconcile makes one pass of reconcileLoop.
func (w *Worker) reconcile(ctx context.Context, rec executor.Reconciler) {
	// The cut-off before the snapshot: an attempt tracked after the
	// snapshot made its container after the cut-off.
	before := time.Now().Add(-w.opts.ReconcileGrace)
	keep := map[client.AttemptRef]bool{}
	for _, r := range w.runningRefs() {
		keep[r] = true
	}
	n, err := rec.RemoveOrphansBefore(ctx, func(jobID string, attempt int) bool {
		return keep[client.AttemptRef{JobID: jobID, Attempt: attempt}]
	}, before)
	switch {
	case err != nil && ctx.Err() == nil:
		w.log.Warn("could not remove runs no attempt holds; trying again later", "err", err)
	case n > 0:
		w.log.Info("removed runs no attempt of this worker holds", "count", n)
	}
}
