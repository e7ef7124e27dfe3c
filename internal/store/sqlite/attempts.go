package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// ClaimJobs leases up to p.Max queued jobs that fit p.Fits, oldest first, to
// p.WorkerID, filling their unset limits from p.Defaults. The write transaction is BEGIN IMMEDIATE, so no other process or
// connection can claim between the select and the update.
func (s *Store) ClaimJobs(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	var jobs []store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE jobs
			SET state = 'leased', attempt = attempt + 1, worker_id = ?1,
				memory_bytes = CASE WHEN memory_bytes = 0 THEN ?7 ELSE memory_bytes END,
				cpus = CASE WHEN cpus = 0 THEN ?8 ELSE cpus END,
				pids = CASE WHEN pids = 0 THEN ?9 ELSE pids END,
				timeout_seconds = CASE WHEN timeout_seconds = 0 THEN ?10 ELSE timeout_seconds END
			WHERE seq IN (SELECT seq FROM jobs WHERE state = 'queued'
				AND (?3 = 0 OR memory_bytes <= ?3) AND (?4 = 0 OR cpus <= ?4)
				AND (?5 = 0 OR pids <= ?5) AND (?6 = 0 OR timeout_seconds <= ?6)
				ORDER BY seq LIMIT ?2)
			RETURNING `+jobColumnsScript, p.WorkerID, p.Max, p.Fits.MemoryBytes,
			p.Fits.CPUs, p.Fits.Pids, p.Fits.TimeoutSeconds,
			p.Defaults.MemoryBytes, p.Defaults.CPUs, p.Defaults.Pids, p.Defaults.TimeoutSeconds)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows, true)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		leasedAt := nanos(nowOr(p.Now))
		for _, j := range jobs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO job_attempts
				(job_id, number, worker_id, state, leased_at) VALUES (?, ?, ?, 'leased', ?)`,
				j.ID, j.Attempt, p.WorkerID, leasedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs for worker %s: %w", p.WorkerID, err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}

// checkCurrent returns the job's state when ref is its current attempt and
// the job is leased or running, else store.ErrStaleAttempt (or
// store.ErrNotFound).
func checkCurrent(ctx context.Context, q querier, ref store.AttemptRef) (store.State, error) {
	var (
		state   store.State
		attempt int
	)
	err := q.QueryRowContext(ctx, `SELECT state, attempt FROM jobs WHERE id = ?`, ref.JobID).Scan(&state, &attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	if attempt != ref.Attempt || (state != store.StateLeased && state != store.StateRunning) {
		return "", store.ErrStaleAttempt
	}
	return state, nil
}

// StartAttempt moves the current attempt and its job to running.
func (s *Store) StartAttempt(ctx context.Context, ref store.AttemptRef, now time.Time) (store.Job, error) {
	var j store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		state, err := checkCurrent(ctx, tx, ref)
		if err != nil {
			return err
		}
		if state == store.StateLeased {
			at := nanos(nowOr(now))
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'running', started_at = ?
				WHERE id = ?`, at, ref.JobID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE job_attempts SET state = 'running', started_at = ?
				WHERE job_id = ? AND number = ?`, at, ref.JobID, ref.Attempt); err != nil {
				return err
			}
		}
		j, err = getJob(ctx, tx, ref.JobID, false)
		return err
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("start attempt %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	return j, nil
}

// FinishAttempt records the result of the current attempt and ends the job,
// or queues it again when a script failure leaves it retries (see
// retryLeft). A requeued job keeps no result of its own: exit code, reason,
// message and times are cleared, and the attempt holds the failure.
func (s *Store) FinishAttempt(ctx context.Context, p store.FinishParams) (store.Job, error) {
	if !p.State.Terminal() {
		return store.Job{}, fmt.Errorf("finish attempt %s/%d: state %q is not terminal", p.JobID, p.Attempt, p.State)
	}
	var j store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := checkCurrent(ctx, tx, store.AttemptRef{JobID: p.JobID, Attempt: p.Attempt}); err != nil {
			return err
		}
		at := nanos(nowOr(p.Now))
		if p.Started {
			// The start report was folded into this result (or lost).
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET started_at = ? WHERE id = ? AND started_at IS NULL`, at, p.JobID); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE job_attempts SET state = ?, exit_code = ?,
			reason = ?, message = ?, finished_at = ?, started_at = CASE WHEN ? THEN coalesce(started_at, ?) ELSE started_at END
			WHERE job_id = ? AND number = ? AND state IN ('leased', 'running')`,
			p.State, nullInt(p.ExitCode), p.Reason, p.Message, at, p.Started, at, p.JobID, p.Attempt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrStaleAttempt
		}
		retry, err := retryLeft(ctx, tx, p)
		if err != nil {
			return err
		}
		if retry {
			err = requeue(ctx, tx, p.JobID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = ?, exit_code = ?,
				reason = ?, message = ?, failure = ?, finished_at = ? WHERE id = ?`,
				p.State, nullInt(p.ExitCode), p.Reason, p.Message, p.Failure, at, p.JobID)
		}
		if err != nil {
			return err
		}
		j, err = getJob(ctx, tx, p.JobID, false)
		return err
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("finish attempt %s/%d: %w", p.JobID, p.Attempt, err)
	}
	return j, nil
}

// retryLeft reports whether the result p, just recorded on its attempt,
// sends the job back to the queue: p is a script failure (failed, timed_out,
// oom_killed), the job's script failures so far, this one included, number
// at most its Retries, and no cancel was requested (a job the user asked to
// stop is not run again; it ends with the failure).
func retryLeft(ctx context.Context, q querier, p store.FinishParams) (bool, error) {
	if !scriptFailure(p.State) {
		return false, nil
	}
	var retry bool
	err := q.QueryRowContext(ctx, `SELECT NOT cancel_requested AND retries >=
		(SELECT count(*) FROM job_attempts a WHERE a.job_id = jobs.id
		 AND a.state IN ('failed', 'timed_out', 'oom_killed'))
		FROM jobs WHERE id = ?`, p.JobID).Scan(&retry)
	return retry, err
}

func scriptFailure(s store.State) bool {
	return s == store.StateFailed || s == store.StateTimedOut || s == store.StateOOMKilled
}

// requeue puts a job whose current attempt just ended back in the queue, as
// if never leased except for its attempt number: the next claim makes
// attempt+1.
func requeue(ctx context.Context, tx *sql.Tx, jobID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'queued', worker_id = '',
		cancel_requested = 0, exit_code = NULL, reason = '', message = '', failure = '',
		started_at = NULL, finished_at = NULL WHERE id = ?`, jobID)
	return err
}

// AttemptsToStop returns the worker's active attempts whose job was asked to
// cancel, has moved on to a later attempt, or is no longer active.
//
// Only the first can happen through this store: every change that moves a
// job off its current attempt (FinishAttempt, LoseAttempts, ExpireOverdue)
// ends that attempt in the same transaction. The other two conditions stay
// as a guard; a worker whose attempt was ended behind its back learns it
// from ErrStaleAttempt on its next report.
func (s *Store) AttemptsToStop(ctx context.Context, workerID string) ([]store.AttemptRef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT a.job_id, a.number
		FROM job_attempts a JOIN jobs j ON j.id = a.job_id
		WHERE a.worker_id = ? AND a.state IN ('leased', 'running')
		  AND (j.cancel_requested OR j.attempt <> a.number OR j.state NOT IN ('leased', 'running'))
		ORDER BY j.seq, a.number`, workerID)
	if err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	defer rows.Close()
	var out []store.AttemptRef
	for rows.Next() {
		var r store.AttemptRef
		if err := rows.Scan(&r.JobID, &r.Attempt); err != nil {
			return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	return out, nil
}

// StartAttempts starts each attempt in turn.
func (s *Store) StartAttempts(ctx context.Context, refs []store.AttemptRef, now time.Time) ([]store.Job, []error, error) {
	jobs, errs := make([]store.Job, len(refs)), make([]error, len(refs))
	start := func(ctx context.Context, ref store.AttemptRef) (store.Job, error) {
		return s.StartAttempt(ctx, ref, now)
	}
	return jobs, errs, store.Each(ctx, refs, start, jobs, errs, nil)
}

// FinishAttempts finishes each attempt in turn.
func (s *Store) FinishAttempts(ctx context.Context, ps []store.FinishParams) ([]store.Job, []error, error) {
	jobs, errs := make([]store.Job, len(ps)), make([]error, len(ps))
	return jobs, errs, store.Each(ctx, ps, s.FinishAttempt, jobs, errs, nil)
}
