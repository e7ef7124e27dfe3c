package postgres

import (
	"context"
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
    a.state, a.rate_micros, a.currency, a.started_at, a.finished_at
FROM job_attempts a
JOIN jobs j ON j.id = a.job_id
LEFT JOIN workers w ON w.id = a.worker_id
LEFT JOIN tokens t ON t.id = w.token_id
WHERE a.rate_micros > 0 AND a.finished_at >= $1 AND a.finished_at < $2
UNION ALL
SELECT j.id, j.attempt, j.owner_id, coalesce(j.batch_id, ''), j.worker_id, coalesce(t.pool, ''),
    j.state, j.rate_micros, j.currency, j.started_at, j.finished_at
FROM jobs j
LEFT JOIN workers w ON w.id = j.worker_id
LEFT JOIN tokens t ON t.id = w.token_id
WHERE j.rate_micros > 0 AND j.attempt > 0 AND j.state <> 'queued'
  AND ((j.finished_at >= $1 AND j.finished_at < $2) OR ($3 AND j.finished_at IS NULL AND j.state = 'running'))
  AND NOT EXISTS (SELECT 1 FROM job_attempts x WHERE x.job_id = j.id AND x.number = j.attempt)
ORDER BY 11 NULLS LAST, 1, 2`

// Charges returns the priced attempts that ended in [since, until), and
// the running ones when running is set.
func (s *Store) Charges(ctx context.Context, since, until time.Time, running bool) ([]store.Charge, error) {
	rows, err := s.pool.Query(ctx, chargesSQL, since, until, running)
	if err != nil {
		return nil, fmt.Errorf("read charges: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Charge, error) {
		var c store.Charge
		err := r.Scan(&c.JobID, &c.Attempt, &c.Owner, &c.BatchID, &c.WorkerID, &c.Pool,
			&c.State, &c.RateMicros, &c.Currency, &c.StartedAt, &c.FinishedAt)
		c.StartedAt, c.FinishedAt = utcPtr(c.StartedAt), utcPtr(c.FinishedAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read charges: %w", err)
	}
	return out, nil
}
