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

// LoseAttempts ends the worker's active attempts selected by p as lost,
// and settles each job as store.DecideLose decides. It returns those jobs,
// oldest first. All of it is one write transaction, so a FinishAttempt for
// the same attempt runs wholly before (and LoseAttempts skips the finished
// attempt) or wholly after (and gets ErrStaleAttempt).
func (s *Store) LoseAttempts(ctx context.Context, p store.LoseParams) ([]store.Job, error) {
	p.Now = nowOr(p.Now)
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
		jobs = jobs[:0]
		d := batchDeltas{}
		found, err := queryJobs(ctx, tx, `SELECT `+jobColumns+` FROM jobs
			WHERE worker_id = ?1 AND state IN ('leased', 'running')
			  AND (NOT ?2 OR state = 'leased')
			  AND (?3 = 0 OR leased_at < ?3)
			ORDER BY id`, p.WorkerID, p.OnlyLeased, leasedBefore)
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
// store.DecideExpire decides, and returns them, oldest first.
func (s *Store) ExpireOverdue(ctx context.Context, now time.Time, grace time.Duration) ([]store.Job, error) {
	now = nowOr(now)
	var jobs []store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		jobs = jobs[:0]
		d := batchDeltas{}
		due, err := queryJobs(ctx, tx, `SELECT `+jobColumns+` FROM jobs
			WHERE state = 'running' AND started_at IS NOT NULL AND timeout_seconds > 0
			  AND started_at + timeout_seconds * 1000000000 + ?1 < ?2
			ORDER BY seq`, grace.Nanoseconds(), nanos(now))
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
	return jobs, nil
}
