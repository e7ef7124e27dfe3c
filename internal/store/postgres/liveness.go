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

// LoseAttempts ends the worker's active attempts selected by p as lost,
// and settles each job as store.DecideLose decides. It returns those jobs,
// oldest first.
//
// It locks the jobs' rows before deciding, as FinishAttempt, StartAttempt
// and AppendLogs do: whichever of LoseAttempts and FinishAttempt locks the
// job first decides the attempt's one result, and the other skips it or
// gets ErrStaleAttempt.
func (s *Store) LoseAttempts(ctx context.Context, p store.LoseParams) ([]store.Job, error) {
	p.Now = nowOr(p.Now)
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
		jobs = jobs[:0]
		d := batchDeltas{}
		// The worker's active attempts are its jobs' current ones: lock
		// those rows, in id order as everything that locks several jobs
		// does, so that two of them never deadlock. A row changed
		// meanwhile is re-checked against the conditions once locked.
		rows, err := tx.Query(ctx, `SELECT `+jobColumns+` FROM jobs
			WHERE worker_id = $1 AND state IN ('leased', 'running')
			  AND (NOT $2 OR state = 'leased')
			  AND ($3::timestamptz IS NULL OR leased_at < $3)
			ORDER BY id FOR UPDATE`, p.WorkerID, p.OnlyLeased, leasedBefore)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, false) })
		if err != nil {
			return err
		}
		for _, cur := range found {
			if keep[store.AttemptRef{JobID: cur.ID, Attempt: cur.Attempt}] {
				continue
			}
			c, ok := store.DecideLose(cur, p)
			if !ok {
				continue
			}
			j, err := apply(ctx, tx, c, d)
			if err != nil {
				return fmt.Errorf("attempt %s/%d: %w", cur.ID, cur.Attempt, err)
			}
			jobs = append(jobs, j)
		}
		return d.flush(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("lose attempts of worker %s: %w", p.WorkerID, err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}

// ExpireOverdue ends the running jobs past their time limit plus grace, as
// store.DecideExpire decides, and returns them, oldest first. The select
// locks the rows and, under READ COMMITTED, re-checks a row that a
// concurrent FinishAttempt changed, so a job that just finished is left
// alone.
func (s *Store) ExpireOverdue(ctx context.Context, now time.Time, grace time.Duration) ([]store.Job, error) {
	now = nowOr(now)
	var jobs []store.Job
	err := s.tx(ctx, func(tx pgx.Tx) error {
		jobs = jobs[:0]
		d := batchDeltas{}
		rows, err := tx.Query(ctx, `SELECT `+jobColumns+` FROM jobs
			WHERE state = 'running' AND started_at IS NOT NULL AND timeout_seconds > 0
			  AND started_at + timeout_seconds * interval '1 second'
			      + $1::bigint * interval '1 microsecond' < $2
			ORDER BY id FOR UPDATE`, grace.Microseconds(), now)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, false) })
		if err != nil {
			return err
		}
		for _, cur := range due {
			c, ok := store.DecideExpire(cur, now, grace)
			if !ok {
				continue
			}
			j, err := apply(ctx, tx, c, d)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return d.flush(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("expire overdue jobs: %w", err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}
