package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// chargesSQL reads the priced attempts recorded apart from their jobs and
// the latest attempt of each job whose row is its record (as
// store.Attempts has it), both through their partial priced indexes.
const chargesSQL = `
SELECT a.job_id, a.number, j.owner_id, coalesce(j.batch_id, ''), a.worker_id, coalesce(t.pool, ''),
    a.state, a.rate_micros, a.currency, a.started_at, a.finished_at, j.state
FROM job_attempts a
JOIN jobs j ON j.id = a.job_id
LEFT JOIN workers w ON w.id = a.worker_id
LEFT JOIN tokens t ON t.id = w.token_id
WHERE a.rate_micros > 0 AND a.finished_at >= $1 AND a.finished_at < $2
UNION ALL
SELECT j.id, j.attempt, j.owner_id, coalesce(j.batch_id, ''), j.worker_id, coalesce(t.pool, ''),
    j.state, j.rate_micros, j.currency, j.started_at, j.finished_at, j.state
FROM jobs j
LEFT JOIN workers w ON w.id = j.worker_id
LEFT JOIN tokens t ON t.id = w.token_id
WHERE j.rate_micros > 0 AND j.attempt > 0 AND j.state <> 'queued'
  AND ((j.finished_at >= $1 AND j.finished_at < $2) OR ($3 AND j.finished_at IS NULL AND j.state = 'running'))
  AND NOT EXISTS (SELECT 1 FROM job_attempts x WHERE x.job_id = j.id AND x.number = j.attempt)
ORDER BY 11 NULLS LAST, 1, 2`

// batchChargesSQL is chargesSQL for the items of batch $1, through
// jobs_batch_items.
const batchChargesSQL = `
SELECT a.job_id, a.number, j.owner_id, coalesce(j.batch_id, ''), a.worker_id, '',
    a.state, a.rate_micros, a.currency, a.started_at, a.finished_at, j.state
FROM jobs j JOIN job_attempts a ON a.job_id = j.id
WHERE j.batch_id = $1 AND a.rate_micros > 0
UNION ALL
SELECT j.id, j.attempt, j.owner_id, coalesce(j.batch_id, ''), j.worker_id, '',
    j.state, j.rate_micros, j.currency, j.started_at, j.finished_at, j.state
FROM jobs j
WHERE j.batch_id = $1 AND j.rate_micros > 0 AND j.attempt > 0 AND j.state <> 'queued'
  AND NOT EXISTS (SELECT 1 FROM job_attempts x WHERE x.job_id = j.id AND x.number = j.attempt)`

// BatchCharges returns the priced attempts of the batch's items.
func (s *Store) BatchCharges(ctx context.Context, batchID string) ([]store.Charge, error) {
	return s.charges(ctx, batchChargesSQL, batchID)
}

// Charges returns the priced attempts that ended in [since, until), and
// the running ones when running is set.
func (s *Store) Charges(ctx context.Context, since, until time.Time, running bool) ([]store.Charge, error) {
	return s.charges(ctx, chargesSQL, since, until, running)
}

func (s *Store) charges(ctx context.Context, sql string, args ...any) ([]store.Charge, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("read charges: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Charge, error) {
		var c store.Charge
		err := r.Scan(&c.JobID, &c.Attempt, &c.Owner, &c.BatchID, &c.WorkerID, &c.Pool,
			&c.State, &c.RateMicros, &c.Currency, &c.StartedAt, &c.FinishedAt, &c.JobState)
		c.StartedAt, c.FinishedAt = utcPtr(c.StartedAt), utcPtr(c.FinishedAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read charges: %w", err)
	}
	return out, nil
}

// spentSQL is what $1's attempts in currency $2 that ended since $3 cost,
// rounded per attempt as store.Cost rounds: those recorded apart and the
// latest of each job whose row is its record.
const spentSQL = `SELECT
  (SELECT coalesce(sum((a.rate_micros * floor(extract(epoch FROM a.finished_at - a.started_at) * 1000)::bigint + 1800000) / 3600000), 0)
   FROM job_attempts a JOIN jobs j ON j.id = a.job_id
   WHERE j.owner_id = $1 AND a.rate_micros > 0 AND a.currency = $2 AND a.finished_at >= $3
     AND a.started_at IS NOT NULL AND a.finished_at > a.started_at)
+ (SELECT coalesce(sum((j.rate_micros * floor(extract(epoch FROM j.finished_at - j.started_at) * 1000)::bigint + 1800000) / 3600000), 0)
   FROM jobs j
   WHERE j.owner_id = $1 AND j.rate_micros > 0 AND j.currency = $2 AND j.finished_at >= $3
     AND j.started_at IS NOT NULL AND j.finished_at > j.started_at
     AND NOT EXISTS (SELECT 1 FROM job_attempts x WHERE x.job_id = j.id AND x.number = j.attempt))
+ (SELECT coalesce(sum(h.micros), 0) FROM budget_holds h LEFT JOIN jobs j ON j.id = h.job_id
   WHERE h.user_id = $1 AND (j.state IN ('queued', 'leased', 'running') OR j.id IS NULL AND h.created_at > $4))`

// BudgetUsed is what the user's budget has used since periodStart.
func (s *Store) BudgetUsed(ctx context.Context, userID, currency string, periodStart, now time.Time) (int64, error) {
	var used int64
	if err := s.pool.QueryRow(ctx, spentSQL, userID, currency, periodStart, store.HoldSince(nowOr(now))).Scan(&used); err != nil {
		return 0, fmt.Errorf("budget of %s: %w", userID, err)
	}
	return used, nil
}

// HoldBudget holds p's jobs against the user's budget, under the user's
// row lock, after dropping holds that no longer count.
func (s *Store) HoldBudget(ctx context.Context, p store.HoldParams) (int64, error) {
	now := nowOr(p.Now)
	var used int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT id FROM users WHERE id = $1 FOR UPDATE`, p.UserID).Scan(new(string)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM budget_holds h WHERE h.user_id = $1 AND (
			EXISTS (SELECT 1 FROM jobs j WHERE j.id = h.job_id AND j.state NOT IN ('queued', 'leased', 'running'))
			OR h.created_at <= $2 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = h.job_id))`,
			p.UserID, store.HoldSince(now)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, spentSQL, p.UserID, p.Currency, p.PeriodStart, store.HoldSince(now)).Scan(&used); err != nil {
			return err
		}
		ids, micros := make([]string, len(p.Holds)), make([]int64, len(p.Holds))
		var asked int64
		for i, h := range p.Holds {
			ids[i], micros[i] = h.JobID, h.Micros
			asked += h.Micros
		}
		if used >= p.Budget || used+asked > p.Budget {
			return &store.BudgetExceededError{Used: used, Asked: asked, Budget: p.Budget, Currency: p.Currency}
		}
		used += asked
		_, err := tx.Exec(ctx, `INSERT INTO budget_holds (job_id, user_id, micros, created_at)
			SELECT id, $3, m, $4 FROM unnest($1::text[], $2::bigint[]) AS t(id, m)`, ids, micros, p.UserID, now)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return used, fmt.Errorf("hold budget of %s: %w", p.UserID, err)
	}
	return used, nil
}

// ReleaseHolds removes the jobs' holds.
func (s *Store) ReleaseHolds(ctx context.Context, jobIDs []string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM budget_holds WHERE job_id = ANY($1)`, jobIDs); err != nil {
		return fmt.Errorf("release budget holds: %w", err)
	}
	return nil
}

// poolUsedSQL is what pool $1's budget in currency $2 has used since $3:
// each hold of an attempt leased or running at its amount, each of an
// attempt that ended since $3 at its cost (rounded as store.Cost rounds),
// the attempt's record apart from its job or, for the latest, the job row.
const poolUsedSQL = `SELECT coalesce(sum(CASE
    WHEN a.job_id IS NULL AND j.attempt = h.attempt AND j.state IN ('leased', 'running') THEN h.micros
    WHEN a.job_id IS NOT NULL THEN CASE WHEN a.started_at IS NOT NULL AND a.finished_at > a.started_at AND a.finished_at >= $3
        THEN (a.rate_micros * floor(extract(epoch FROM a.finished_at - a.started_at) * 1000)::bigint + 1800000) / 3600000 ELSE 0 END
    WHEN j.attempt = h.attempt THEN CASE WHEN j.started_at IS NOT NULL AND j.finished_at > j.started_at AND j.finished_at >= $3
        THEN (j.rate_micros * floor(extract(epoch FROM j.finished_at - j.started_at) * 1000)::bigint + 1800000) / 3600000 ELSE 0 END
    ELSE 0 END), 0)::bigint
FROM pool_holds h JOIN jobs j ON j.id = h.job_id
LEFT JOIN job_attempts a ON a.job_id = h.job_id AND a.number = h.attempt
WHERE h.pool = $1 AND h.currency = $2`

// SetPoolBudget sets or removes a pool's budget.
func (s *Store) SetPoolBudget(ctx context.Context, pool string, micros *int64, currency string, now time.Time) error {
	var err error
	if micros == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM pool_budgets WHERE pool = $1`, pool)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO pool_budgets (pool, micros, currency, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (pool) DO UPDATE SET micros = $2, currency = $3, updated_at = $4`, pool, *micros, currency, nowOr(now))
	}
	if err != nil {
		return fmt.Errorf("set the budget of pool %s: %w", pool, err)
	}
	return nil
}

// PoolBudgets lists the pools' budgets by name.
func (s *Store) PoolBudgets(ctx context.Context) ([]store.PoolBudget, error) {
	rows, err := s.pool.Query(ctx, `SELECT pool, micros, currency, updated_at FROM pool_budgets ORDER BY pool`)
	if err != nil {
		return nil, fmt.Errorf("list pool budgets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PoolBudget, error) {
		var b store.PoolBudget
		err := r.Scan(&b.Pool, &b.Micros, &b.Currency, &b.UpdatedAt)
		b.UpdatedAt = b.UpdatedAt.UTC()
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list pool budgets: %w", err)
	}
	return out, nil
}

// PoolBudgetUsed is what the pool's budget has used since periodStart.
func (s *Store) PoolBudgetUsed(ctx context.Context, pool, currency string, periodStart time.Time) (int64, error) {
	var used int64
	if err := s.pool.QueryRow(ctx, poolUsedSQL, pool, currency, periodStart).Scan(&used); err != nil {
		return 0, fmt.Errorf("budget of pool %s: %w", pool, err)
	}
	return used, nil
}
