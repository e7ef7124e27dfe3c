package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// LoseAttempts ends the worker's active attempts selected by p as lost, and
// then settles each job whose current attempt that was: canceled if a cancel
// was requested, queued again while fewer than MaxAttempts of its attempts
// are lost, else lost. It returns those jobs, oldest first.
//
// It locks the jobs' rows before touching their attempts, as FinishAttempt,
// StartAttempt and AppendLogs do, and re-checks each attempt under the lock:
// whichever of LoseAttempts and FinishAttempt locks the job first decides the
// attempt's one result, and the other skips it or gets ErrStaleAttempt.
func (s *Store) LoseAttempts(ctx context.Context, p store.LoseParams) ([]store.Job, error) {
	p = p.WithDefaults()
	keep := make(map[store.AttemptRef]bool, len(p.Keep))
	for _, r := range p.Keep {
		keep[r] = true
	}
	var leasedBefore *time.Time // nil: no bound
	if !p.LeasedBefore.IsZero() {
		leasedBefore = &p.LeasedBefore
	}
	var jobs []store.Job
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The worker's active attempts are its jobs' current ones: lock
		// those rows, in id order as everything that locks several jobs
		// does, so that two of them never deadlock. A row changed
		// meanwhile is re-checked against the conditions once locked.
		rows, err := tx.Query(ctx, `SELECT id, attempt FROM jobs
			WHERE worker_id = $1 AND state IN ('leased', 'running')
			  AND (NOT $2 OR state = 'leased')
			  AND ($3::timestamptz IS NULL OR leased_at < $3)
			ORDER BY id FOR UPDATE`, p.WorkerID, p.OnlyLeased, leasedBefore)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AttemptRef, error) {
			var ref store.AttemptRef
			err := r.Scan(&ref.JobID, &ref.Attempt)
			return ref, err
		})
		if err != nil {
			return err
		}
		var refs []store.AttemptRef
		for _, r := range found {
			if !keep[r] {
				refs = append(refs, r)
			}
		}
		if len(refs) == 0 {
			return nil
		}
		at := nowOr(p.Now)
		for _, r := range refs {
			j, changed, err := loseAttempt(ctx, tx, r, p, at)
			if err != nil {
				return fmt.Errorf("attempt %s/%d: %w", r.JobID, r.Attempt, err)
			}
			if changed {
				jobs = append(jobs, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lose attempts of worker %s: %w", p.WorkerID, err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}

// loseAttempt ends one attempt as lost if it is still active (and still
// leased, with p.OnlyLeased), and settles its job if it is the job's current
// attempt, returning the job and whether it changed. The caller holds the
// job row locked.
func loseAttempt(ctx context.Context, tx pgx.Tx, r store.AttemptRef, p store.LoseParams, at time.Time) (store.Job, bool, error) {
	tag, err := tx.Exec(ctx, endAttemptSQL+` AND (NOT $8 OR state = 'leased')`,
		r.JobID, string(store.StateLost), nil, p.Reason, p.Message, at, r.Attempt, p.OnlyLeased)
	if err != nil || tag.RowsAffected() == 0 {
		return store.Job{}, false, err
	}
	var (
		state                store.State
		attempt, maxAttempts int
		lost                 int
		cancelRequested      bool
	)
	err = tx.QueryRow(ctx, `SELECT state, attempt, cancel_requested, max_attempts,
		(SELECT count(*) FROM job_attempts a WHERE a.job_id = jobs.id AND a.state = 'lost')
		FROM jobs WHERE id = $1`, r.JobID).Scan(&state, &attempt, &cancelRequested, &maxAttempts, &lost)
	if err != nil {
		return store.Job{}, false, err
	}
	if attempt != r.Attempt || (state != store.StateLeased && state != store.StateRunning) {
		return store.Job{}, false, nil // an attempt the job had already moved past
	}
	var j store.Job
	switch {
	case cancelRequested:
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = 'canceled', reason = 'canceled',
			message = 'canceled while its worker was lost', finished_at = $2
			WHERE id = $1 RETURNING `+jobColumns, r.JobID, at), false)
	case lost < maxAttempts:
		j, err = requeue(ctx, tx, r.JobID)
	default:
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = 'lost', reason = $2,
			message = $3, finished_at = $4 WHERE id = $1 RETURNING `+jobColumns,
			r.JobID, p.Reason, p.Message, at), false)
	}
	return j, err == nil, err
}

// ExpireOverdue ends, as timed_out with reason server_timeout, the running
// jobs whose start lies more than their timeout plus grace before now, and
// their current attempts. It returns them, oldest first. The select locks
// the rows and, under READ COMMITTED, re-checks a row that a concurrent
// FinishAttempt changed, so a job that just finished is left alone.
func (s *Store) ExpireOverdue(ctx context.Context, now time.Time, grace time.Duration) ([]store.Job, error) {
	now = nowOr(now)
	var jobs []store.Job
	err := s.tx(ctx, func(tx pgx.Tx) error {
		type overdue struct {
			id             string
			attempt        int
			started        time.Time
			timeoutSeconds int64
		}
		rows, err := tx.Query(ctx, `SELECT id, attempt, started_at, timeout_seconds FROM jobs
			WHERE state = 'running' AND started_at IS NOT NULL AND timeout_seconds > 0
			  AND started_at + timeout_seconds * interval '1 second'
			      + $1::bigint * interval '1 microsecond' < $2
			ORDER BY id FOR UPDATE`, grace.Microseconds(), now)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (overdue, error) {
			var o overdue
			err := r.Scan(&o.id, &o.attempt, &o.started, &o.timeoutSeconds)
			return o, err
		})
		if err != nil {
			return err
		}
		for _, o := range due {
			msg := store.OverdueMessage(now.Sub(o.started), o.timeoutSeconds, grace)
			if _, err := tx.Exec(ctx, endAttemptSQL, o.id, string(store.StateTimedOut), nil,
				"server_timeout", msg, now, o.attempt); err != nil {
				return err
			}
			j, err := scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = 'timed_out',
				reason = 'server_timeout', message = $2, finished_at = $3
				WHERE id = $1 RETURNING `+jobColumns, o.id, msg, now), false)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire overdue jobs: %w", err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}
