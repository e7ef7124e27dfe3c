package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// attemptMicrosSQL is store.Cost in SQL over columns rate, ms (a run's
// whole milliseconds, 0 for none): rate × ms / 1 h rounded half up,
// split as store's micros splits it so that no product overflows.
const attemptMicrosSQL = `(rate / 3600000 * ms + (rate % 3600000 * ms + 1800000) / 3600000)`

// runMillisSQL is a run's whole milliseconds from started_at to ended
// (nanoseconds), 0 if it never started.
const runMillisSQL = `CASE WHEN started_at IS NULL OR ended <= started_at THEN 0
    ELSE (ended - started_at) / 1000000 END`

// costSumsSQL sums the attempts chargesSQL reads (ended in [?1, ?2), and
// running at ?6 when ?3), of owner ?5 when ?4, by key ?7.
const costSumsSQL = `
WITH c AS (
  SELECT j.owner_id AS owner, coalesce(j.batch_id, '') AS batch, a.worker_id AS worker, a.job_id AS job,
      a.currency AS currency, a.rate_micros AS rate, a.started_at AS started_at, a.finished_at AS ended, 1 AS multi
  FROM job_attempts a JOIN jobs j ON j.id = a.job_id
  WHERE a.rate_micros > 0 AND a.finished_at >= ?1 AND a.finished_at < ?2 AND (NOT ?4 OR j.owner_id = ?5)
  UNION ALL
  SELECT j.owner_id, coalesce(j.batch_id, ''), j.worker_id, j.id, j.currency, j.rate_micros, j.started_at, coalesce(j.finished_at, ?6), j.attempt > 1
  FROM jobs j
  WHERE j.rate_micros > 0 AND j.attempt > 0 AND j.state <> 'queued' AND (NOT ?4 OR j.owner_id = ?5)
    AND ((j.finished_at >= ?1 AND j.finished_at < ?2) OR (?3 AND j.finished_at IS NULL AND j.state = 'running'))
    AND NOT EXISTS (SELECT 1 FROM job_attempts x WHERE x.job_id = j.id AND x.number = j.attempt)
), m AS (
  SELECT CASE ?7 WHEN 'user' THEN owner WHEN 'batch' THEN batch WHEN 'worker' THEN worker ELSE '' END AS key,
      currency, job, multi, ms, ` + attemptMicrosSQL + ` AS micros
  FROM (SELECT c.*, ` + runMillisSQL + ` AS ms FROM c) r
), d AS (
  SELECT key, currency, count(*) AS n FROM (SELECT DISTINCT key, currency, job FROM m WHERE multi) x GROUP BY key, currency
), s AS (
  SELECT key, currency, sum(CASE WHEN multi THEN 0 ELSE 1 END) AS single, count(*) AS attempts,
      coalesce(sum(ms), 0) AS ms, coalesce(sum(micros), 0) AS micros
  FROM m GROUP BY key, currency
)
SELECT s.key, s.currency, s.single + coalesce(d.n, 0), s.attempts, s.ms, s.micros
FROM s LEFT JOIN d ON d.key = s.key AND d.currency = s.currency
ORDER BY s.micros DESC, s.key, s.currency`

// CostSums sums the attempts p selects.
func (s *Store) CostSums(ctx context.Context, p store.CostSumParams) ([]store.CostSum, error) {
	rows, err := s.r.QueryContext(ctx, costSumsSQL, nanos(p.Since), nanos(p.Until), p.Running, p.OwnerSet, p.Owner, nanos(nowOr(p.Now)), p.By)
	if err != nil {
		return nil, fmt.Errorf("sum costs: %w", err)
	}
	defer rows.Close()
	var out []store.CostSum
	for rows.Next() {
		var c store.CostSum
		if err := rows.Scan(&c.Key, &c.Currency, &c.Jobs, &c.Attempts, &c.RunMillis, &c.Micros); err != nil {
			return nil, fmt.Errorf("sum costs: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum costs: %w", err)
	}
	return out, nil
}

// batchCostSumsSQL sums the attempts batchChargesSQL reads, running ones
// at ?2, and apart those of items that have ended.
const batchCostSumsSQL = `
WITH c AS (
  SELECT j.state AS jstate, a.currency AS currency, a.rate_micros AS rate, a.started_at AS started_at, coalesce(a.finished_at, ?2) AS ended
  FROM jobs j JOIN job_attempts a ON a.job_id = j.id
  WHERE j.batch_id = ?1 AND a.rate_micros > 0
  UNION ALL
  SELECT j.state, j.currency, j.rate_micros, j.started_at, coalesce(j.finished_at, ?2)
  FROM jobs j
  WHERE j.batch_id = ?1 AND j.rate_micros > 0 AND j.attempt > 0 AND j.state <> 'queued'
    AND NOT EXISTS (SELECT 1 FROM job_attempts x WHERE x.job_id = j.id AND x.number = j.attempt)
), m AS (
  SELECT jstate NOT IN ('queued', 'leased', 'running') AS done, currency, rate, ` + runMillisSQL + ` AS ms FROM c
)
SELECT currency, coalesce(sum(` + attemptMicrosSQL + `), 0) AS micros,
    coalesce(sum(CASE WHEN done THEN ` + attemptMicrosSQL + ` ELSE 0 END), 0)
FROM m GROUP BY currency ORDER BY micros DESC, currency`

// BatchCostSums sums the batch's attempts per currency.
func (s *Store) BatchCostSums(ctx context.Context, batchID string, now time.Time) ([]store.BatchCostSum, error) {
	rows, err := s.r.QueryContext(ctx, batchCostSumsSQL, batchID, nanos(nowOr(now)))
	if err != nil {
		return nil, fmt.Errorf("sum batch %s's costs: %w", batchID, err)
	}
	defer rows.Close()
	var out []store.BatchCostSum
	for rows.Next() {
		var c store.BatchCostSum
		if err := rows.Scan(&c.Currency, &c.Micros, &c.DoneMicros); err != nil {
			return nil, fmt.Errorf("sum batch %s's costs: %w", batchID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum batch %s's costs: %w", batchID, err)
	}
	return out, nil
}
