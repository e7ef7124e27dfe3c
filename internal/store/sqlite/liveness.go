package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// LoseAttempts ends the worker's active attempts selected by p as lost, and
// then settles each job whose current attempt that was: canceled if a cancel
// was requested, queued again while fewer than MaxAttempts of its attempts
// are lost, else lost. It returns those jobs, oldest first. All of it is one
// write transaction, so a FinishAttempt for the same attempt runs wholly
// before (and LoseAttempts skips the finished attempt) or wholly after (and
// gets ErrStaleAttempt).
func (s *Store) LoseAttempts(ctx context.Context, p store.LoseParams) ([]store.Job, error) {
	p = p.WithDefaults()
	keep := make(map[store.AttemptRef]bool, len(p.Keep))
	for _, r := range p.Keep {
		keep[r] = true
	}
	var leasedBefore int64 // 0: no bound
	if !p.LeasedBefore.IsZero() {
		leasedBefore = nanos(p.LeasedBefore)
	}
	var jobs []store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		refs, err := activeAttempts(ctx, tx, p.WorkerID, p.OnlyLeased, leasedBefore)
		if err != nil {
			return err
		}
		at := nanos(nowOr(p.Now))
		for _, r := range refs {
			if keep[r] {
				continue
			}
			changed, err := loseAttempt(ctx, tx, r, p, at)
			if err != nil {
				return fmt.Errorf("attempt %s/%d: %w", r.JobID, r.Attempt, err)
			}
			if !changed {
				continue
			}
			j, err := getJob(ctx, tx, r.JobID, false)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lose attempts of worker %s: %w", p.WorkerID, err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}

func activeAttempts(ctx context.Context, q querier, workerID string, onlyLeased bool, leasedBefore int64) ([]store.AttemptRef, error) {
	rows, err := q.QueryContext(ctx, `SELECT job_id, number FROM job_attempts
		WHERE worker_id = ?1 AND state IN ('leased', 'running')
		  AND (NOT ?2 OR state = 'leased')
		  AND (?3 = 0 OR leased_at < ?3)
		ORDER BY job_id, number`, workerID, onlyLeased, leasedBefore)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AttemptRef
	for rows.Next() {
		var r store.AttemptRef
		if err := rows.Scan(&r.JobID, &r.Attempt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// loseAttempt ends one active attempt as lost and settles its job if it is
// the job's current attempt, reporting whether the job changed.
func loseAttempt(ctx context.Context, tx *sql.Tx, r store.AttemptRef, p store.LoseParams, at int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE job_attempts SET state = 'lost', reason = ?,
		message = ?, finished_at = ?
		WHERE job_id = ? AND number = ? AND state IN ('leased', 'running')`,
		p.Reason, p.Message, at, r.JobID, r.Attempt)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	var (
		state                store.State
		attempt, maxAttempts int
		lost                 int
		cancelRequested      bool
	)
	err = tx.QueryRowContext(ctx, `SELECT state, attempt, cancel_requested, max_attempts,
		(SELECT count(*) FROM job_attempts a WHERE a.job_id = jobs.id AND a.state = 'lost')
		FROM jobs WHERE id = ?`, r.JobID).Scan(&state, &attempt, &cancelRequested, &maxAttempts, &lost)
	if err != nil {
		return false, err
	}
	if attempt != r.Attempt || (state != store.StateLeased && state != store.StateRunning) {
		return false, nil // an attempt the job had already moved past
	}
	switch {
	case cancelRequested:
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'canceled', reason = 'canceled',
			message = 'canceled while its worker was lost', finished_at = ? WHERE id = ?`, at, r.JobID)
	case lost < maxAttempts:
		err = requeue(ctx, tx, r.JobID)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'lost', reason = ?, message = ?,
			finished_at = ? WHERE id = ?`, p.Reason, p.Message, at, r.JobID)
	}
	return err == nil, err
}

// ExpireOverdue ends, as timed_out with reason server_timeout, the running
// jobs whose start lies more than their timeout plus grace before now, and
// their current attempts. It returns them, oldest first.
func (s *Store) ExpireOverdue(ctx context.Context, now time.Time, grace time.Duration) ([]store.Job, error) {
	now = nowOr(now)
	var jobs []store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		type overdue struct {
			id             string
			attempt        int
			started        int64
			timeoutSeconds int64
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, attempt, started_at, timeout_seconds FROM jobs
			WHERE state = 'running' AND started_at IS NOT NULL AND timeout_seconds > 0
			  AND started_at + timeout_seconds * 1000000000 + ?1 < ?2
			ORDER BY seq`, grace.Nanoseconds(), nanos(now))
		if err != nil {
			return err
		}
		var due []overdue
		for rows.Next() {
			var o overdue
			if err := rows.Scan(&o.id, &o.attempt, &o.started, &o.timeoutSeconds); err != nil {
				rows.Close()
				return err
			}
			due = append(due, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		at := nanos(now)
		for _, o := range due {
			msg := store.OverdueMessage(now.Sub(fromNanos(o.started)), o.timeoutSeconds, grace)
			if _, err := tx.ExecContext(ctx, `UPDATE job_attempts SET state = 'timed_out',
				reason = 'server_timeout', message = ?, finished_at = ?
				WHERE job_id = ? AND number = ? AND state IN ('leased', 'running')`,
				msg, at, o.id, o.attempt); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'timed_out',
				reason = 'server_timeout', message = ?, finished_at = ? WHERE id = ?`,
				msg, at, o.id); err != nil {
				return err
			}
			j, err := getJob(ctx, tx, o.id, false)
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
	return jobs, nil
}
