package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// claimSQL leases jobs in one statement. SKIP LOCKED lets concurrent
// claimers pass over each other's rows instead of waiting, and the row lock
// (with READ COMMITTED re-checking state = 'queued' on the locked row) means
// no job is handed out twice. The attempts are inserted from the same
// statement's updated rows.
const claimSQL = `
WITH picked AS (
    SELECT id AS picked_id FROM jobs
    WHERE state = 'queued'
    ORDER BY seq
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE jobs SET state = 'leased', attempt = attempt + 1, worker_id = $1
    FROM picked WHERE id = picked_id
    RETURNING ` + jobColumnsScript + `
), attempts AS (
    INSERT INTO job_attempts (job_id, number, worker_id, state, leased_at)
    SELECT id, attempt, worker_id, 'leased', $3 FROM leased
)
SELECT ` + jobColumnsScript + ` FROM leased ORDER BY seq`

// ClaimJobs leases up to p.Max queued jobs, oldest first, to p.WorkerID.
func (s *Store) ClaimJobs(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, claimSQL, p.WorkerID, p.Max, nowOr(p.Now))
	if err != nil {
		return nil, fmt.Errorf("claim jobs for worker %s: %w", p.WorkerID, err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) {
		return scanJob(r, true)
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs for worker %s: %w", p.WorkerID, err)
	}
	return jobs, nil
}

// checkCurrent locks the job row (with lock, e.g. "FOR UPDATE") and returns
// its state when ref is its current attempt and the job is leased or
// running, else store.ErrStaleAttempt (or store.ErrNotFound).
func checkCurrent(ctx context.Context, q querier, ref store.AttemptRef, lock string) (store.State, error) {
	var (
		state   store.State
		attempt int
	)
	err := q.QueryRow(ctx, `SELECT state, attempt FROM jobs WHERE id = $1 `+lock, ref.JobID).Scan(&state, &attempt)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		state, err := checkCurrent(ctx, tx, ref, "FOR UPDATE")
		if err != nil {
			return err
		}
		if state == store.StateLeased {
			at := nowOr(now)
			if _, err := tx.Exec(ctx, `UPDATE jobs SET state = 'running', started_at = $2
				WHERE id = $1`, ref.JobID, at); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE job_attempts SET state = 'running', started_at = $3
				WHERE job_id = $1 AND number = $2`, ref.JobID, ref.Attempt, at); err != nil {
				return err
			}
		}
		j, err = getJob(ctx, tx, ref.JobID, "")
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		ref := store.AttemptRef{JobID: p.JobID, Attempt: p.Attempt}
		if _, err := checkCurrent(ctx, tx, ref, "FOR UPDATE"); err != nil {
			return err
		}
		at := nowOr(p.Now)
		tag, err := tx.Exec(ctx, `UPDATE job_attempts SET state = $3, exit_code = $4,
			reason = $5, message = $6, finished_at = $7
			WHERE job_id = $1 AND number = $2 AND state IN ('leased', 'running')`,
			p.JobID, p.Attempt, string(p.State), p.ExitCode, p.Reason, p.Message, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrStaleAttempt
		}
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = $2, exit_code = $3,
			reason = $4, message = $5, finished_at = $6 WHERE id = $1 RETURNING `+jobColumns,
			p.JobID, string(p.State), p.ExitCode, p.Reason, p.Message, at), false)
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
	rows, err := s.pool.Query(ctx, `SELECT a.job_id, a.number
		FROM job_attempts a JOIN jobs j ON j.id = a.job_id
		WHERE a.worker_id = $1 AND a.state IN ('leased', 'running')
		  AND (j.cancel_requested OR j.attempt <> a.number OR j.state NOT IN ('leased', 'running'))
		ORDER BY j.seq, a.number`, workerID)
	if err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AttemptRef, error) {
		var ref store.AttemptRef
		err := r.Scan(&ref.JobID, &ref.Attempt)
		return ref, err
	})
	if err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	return out, nil
}
