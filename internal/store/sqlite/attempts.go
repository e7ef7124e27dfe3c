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
			SET state = 'leased', attempt = attempt + 1, worker_id = ?1, leased_at = ?11,
				memory_bytes = CASE WHEN memory_bytes = 0 THEN ?7 ELSE memory_bytes END,
				cpus = CASE WHEN cpus = 0 THEN ?8 ELSE cpus END,
				pids = CASE WHEN pids = 0 THEN ?9 ELSE pids END,
				timeout_seconds = CASE WHEN timeout_seconds = 0 THEN ?10 ELSE timeout_seconds END,
				disk_bytes = CASE WHEN disk_bytes = 0 THEN ?13 ELSE disk_bytes END
			WHERE seq IN (SELECT seq FROM jobs WHERE state = 'queued'
				AND (?3 = 0 OR memory_bytes <= ?3) AND (?4 = 0 OR cpus <= ?4)
				AND (?5 = 0 OR pids <= ?5) AND (?6 = 0 OR timeout_seconds <= ?6)
				AND (?12 = 0 OR disk_bytes <= ?12)
				ORDER BY seq LIMIT ?2)
			RETURNING `+jobColumnsScript, p.WorkerID, p.Max, p.Fits.MemoryBytes,
			p.Fits.CPUs, p.Fits.Pids, p.Fits.TimeoutSeconds,
			p.Defaults.MemoryBytes, p.Defaults.CPUs, p.Defaults.Pids, p.Defaults.TimeoutSeconds,
			nanos(nowOr(p.Now)), p.Fits.DiskBytes, p.Defaults.DiskBytes)
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
		return rows.Close()
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
	var j store.Job
	err := q.QueryRowContext(ctx, `SELECT state, attempt FROM jobs WHERE id = ?`, ref.JobID).Scan(&j.State, &j.Attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	if !j.Holds(ref.Attempt) {
		return "", store.ErrStaleAttempt
	}
	return j.State, nil
}

// StartAttempt moves the current attempt and its job to running, as
// store.DecideStart decides.
func (s *Store) StartAttempt(ctx context.Context, ref store.AttemptRef, now time.Time) (store.Job, error) {
	now = nowOr(now)
	j, err := s.decideWrite(ctx, ref.JobID, func(cur store.Job) (store.Change, error) {
		return store.DecideStart(cur, ref.Attempt, now)
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("start attempt %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	return j, nil
}

// FinishAttempt records the result of the current attempt as
// store.DecideFinish decides: it ends the job, or queues it again when a
// script failure leaves it retries.
func (s *Store) FinishAttempt(ctx context.Context, p store.FinishParams) (store.Job, error) {
	p.Now = nowOr(p.Now)
	j, err := s.decideWrite(ctx, p.JobID, func(cur store.Job) (store.Change, error) {
		return store.DecideFinish(cur, p)
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("finish attempt %s/%d: %w", p.JobID, p.Attempt, err)
	}
	return j, nil
}

// AttemptsToStop returns the worker's active attempts whose job was asked
// to cancel. An active attempt is always its job's current one (the job
// row holds it); a worker whose attempt was ended behind its back learns
// it from ErrStaleAttempt on its next report.
func (s *Store) AttemptsToStop(ctx context.Context, workerID string) ([]store.AttemptRef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, attempt FROM jobs
		WHERE worker_id = ? AND cancel_requested AND state IN ('leased', 'running')
		ORDER BY seq`, workerID)
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
