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

// ClaimJobs leases up to p.Max queued jobs, oldest first, to p.WorkerID.
// The write transaction is BEGIN IMMEDIATE, so no other process or
// connection can claim between the select and the update.
func (s *Store) ClaimJobs(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	var jobs []store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE jobs
			SET state = 'leased', attempt = attempt + 1, worker_id = ?
			WHERE seq IN (SELECT seq FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT ?)
			RETURNING `+jobColumnsScript, p.WorkerID, p.Max)
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

// FinishAttempt records the result of the current attempt and ends the job.
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
		res, err := tx.ExecContext(ctx, `UPDATE job_attempts SET state = ?, exit_code = ?,
			reason = ?, message = ?, finished_at = ?
			WHERE job_id = ? AND number = ? AND state IN ('leased', 'running')`,
			p.State, nullInt(p.ExitCode), p.Reason, p.Message, at, p.JobID, p.Attempt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrStaleAttempt
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, exit_code = ?,
			reason = ?, message = ?, finished_at = ? WHERE id = ?`,
			p.State, nullInt(p.ExitCode), p.Reason, p.Message, at, p.JobID); err != nil {
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

// AttemptsToStop returns the worker's active attempts whose job was asked to
// cancel, has moved on to a later attempt, or is no longer active.
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
