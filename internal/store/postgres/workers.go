package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

const workerColumns = `id, name, hostname, version, executor, slots, state,
	registered_at, last_heartbeat, max_memory_bytes, max_cpus, max_pids,
	max_timeout_seconds, max_disk_bytes, coalesce(instance, '') AS instance, token_id,
	price_micros, currency, cpus, memory_bytes, billing_seconds, warm`

func scanWorker(row pgx.Row, extra ...any) (store.Worker, error) {
	var w store.Worker
	dest := append([]any{&w.ID, &w.Name, &w.Hostname, &w.Version, &w.Executor,
		&w.Slots, &w.State, &w.RegisteredAt, &w.LastHeartbeat, &w.Max.MemoryBytes,
		&w.Max.CPUs, &w.Max.Pids, &w.Max.TimeoutSeconds, &w.Max.DiskBytes, &w.Instance, &w.TokenID,
		&w.Pricing.PriceMicros, &w.Pricing.Currency, &w.Pricing.CPUs, &w.Pricing.MemoryBytes, &w.Pricing.BillingSeconds, &w.Warm}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Worker{}, err
	}
	w.RegisteredAt, w.LastHeartbeat = utc(w.RegisteredAt), utc(w.LastHeartbeat)
	return w, nil
}

// UpsertWorker registers a worker or refreshes its registration, keeping
// the first registered_at. It counts as a heartbeat and makes it active,
// whether it was draining or marked dead: a worker registering again is a
// fresh start. The id stays with its instance while that one is alive
// (see store.Store).
func (s *Store) UpsertWorker(ctx context.Context, w store.Worker, aliveAfter time.Time) (store.Worker, error) {
	hb := nowOr(w.LastHeartbeat)
	registered := w.RegisteredAt
	if registered.IsZero() {
		registered = hb
	}
	out, err := scanWorker(s.pool.QueryRow(ctx, `INSERT INTO workers
		(id, name, hostname, version, executor, slots, state, registered_at,
			last_heartbeat, max_memory_bytes, max_cpus, max_pids, max_timeout_seconds,
			instance, max_disk_bytes, token_id, price_micros, currency, cpus, memory_bytes, billing_seconds)
		VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $10, $11, $12, nullif($13, ''), $15, $16,
			$17, $18, $19, $20, $21)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name,
			hostname = excluded.hostname, version = excluded.version,
			executor = excluded.executor, slots = excluded.slots,
			state = 'active', last_heartbeat = excluded.last_heartbeat,
			max_memory_bytes = excluded.max_memory_bytes,
			max_cpus = excluded.max_cpus, max_pids = excluded.max_pids,
			max_timeout_seconds = excluded.max_timeout_seconds,
			max_disk_bytes = excluded.max_disk_bytes,
			instance = excluded.instance, token_id = excluded.token_id,
			price_micros = excluded.price_micros, currency = excluded.currency, cpus = excluded.cpus,
			memory_bytes = excluded.memory_bytes, billing_seconds = excluded.billing_seconds
		WHERE workers.instance IS NULL OR workers.instance = excluded.instance
			OR workers.state = 'dead' OR workers.last_heartbeat < $14
		RETURNING `+workerColumns,
		w.ID, w.Name, w.Hostname, w.Version, w.Executor, w.Slots, registered, hb,
		w.Max.MemoryBytes, w.Max.CPUs, w.Max.Pids, w.Max.TimeoutSeconds, w.Instance, aliveAfter, w.Max.DiskBytes, w.TokenID,
		w.Pricing.PriceMicros, w.Pricing.Currency, w.Pricing.CPUs, w.Pricing.MemoryBytes, w.Pricing.BillingSeconds))
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.inUse(ctx, w.ID)
	}
	if err != nil {
		return store.Worker{}, fmt.Errorf("upsert worker %s: %w", w.ID, err)
	}
	return out, nil
}

// Heartbeat records that the worker is alive, or store.ErrNotFound. A worker
// marked dead that is heard from again is active again; a draining one stays
// draining. An instance other than the registered one is refused (see
// store.Store).
func (s *Store) Heartbeat(ctx context.Context, workerID, instance string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE workers SET last_heartbeat = $2,
			state = CASE state WHEN 'dead' THEN 'active' ELSE state END,
			instance = coalesce(instance, nullif($3, ''))
		WHERE id = $1 AND ($3 = '' OR instance IS NULL OR instance = $3)`, workerID, nowOr(now), instance)
	if err == nil && tag.RowsAffected() == 0 {
		err = s.inUse(ctx, workerID)
	}
	if err != nil {
		return fmt.Errorf("heartbeat of worker %s: %w", workerID, err)
	}
	return nil
}

// inUse is the error for a write to workerID that its holder refused: a
// *store.WorkerInUseError naming the holder, or store.ErrNotFound if there
// is none. It reads after the refused write, so a holder deleted in
// between reads as not found.
func (s *Store) inUse(ctx context.Context, workerID string) error {
	holder, err := scanWorker(s.pool.QueryRow(ctx, `SELECT `+workerColumns+` FROM workers WHERE id = $1`, workerID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	}
	return &store.WorkerInUseError{Holder: holder}
}

// MarkDeadWorkers sets state dead on every worker not already dead whose
// last heartbeat is before cutoff, and returns them, longest silent first.
// SlotsInUse is not filled.
func (s *Store) MarkDeadWorkers(ctx context.Context, cutoff time.Time) ([]store.Worker, error) {
	rows, err := s.pool.Query(ctx, `WITH dead AS (
			UPDATE workers SET state = 'dead'
			WHERE state <> 'dead' AND last_heartbeat < $1
			RETURNING `+workerColumns+`
		)
		SELECT `+workerColumns+` FROM dead ORDER BY last_heartbeat, id`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("mark dead workers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Worker, error) {
		return scanWorker(r)
	})
	if err != nil {
		return nil, fmt.Errorf("mark dead workers: %w", err)
	}
	return out, nil
}

// SetWorkerState sets a worker's state, or store.ErrNotFound.
func (s *Store) SetWorkerState(ctx context.Context, workerID, state string) error {
	if !validWorkerState(state) {
		return fmt.Errorf("set state of worker %s: unknown state %q", workerID, state)
	}
	return s.updateWorker(ctx, "set state of worker "+workerID,
		`UPDATE workers SET state = $2 WHERE id = $1`, workerID, state)
}

// SetWorkerWarm records how many warm containers a worker has waiting,
// or store.ErrNotFound.
func (s *Store) SetWorkerWarm(ctx context.Context, workerID string, warm int) error {
	return s.updateWorker(ctx, "set warm containers of worker "+workerID,
		`UPDATE workers SET warm = $2 WHERE id = $1`, workerID, warm)
}

// DeleteWorker removes a worker that holds no active attempts.
func (s *Store) DeleteWorker(ctx context.Context, workerID string) error {
	var exists, busy bool
	err := s.pool.QueryRow(ctx, `WITH deleted AS (
			DELETE FROM workers WHERE id = $1
			  AND NOT EXISTS (SELECT 1 FROM jobs WHERE worker_id = $1 AND state IN ('leased', 'running'))
			RETURNING id
		)
		SELECT EXISTS (SELECT 1 FROM workers WHERE id = $1),
			NOT EXISTS (SELECT 1 FROM deleted)`, workerID).Scan(&exists, &busy)
	switch {
	case err != nil:
		return fmt.Errorf("delete worker %s: %w", workerID, err)
	case !exists:
		return fmt.Errorf("delete worker %s: %w", workerID, store.ErrNotFound)
	case busy:
		return fmt.Errorf("delete worker %s: %w", workerID, store.ErrWorkerBusy)
	}
	return nil
}

func (s *Store) updateWorker(ctx context.Context, what, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// ListWorkers returns all workers, most recently heard from first, with the
// number of attempts each holds leased or running.
func (s *Store) ListWorkers(ctx context.Context) ([]store.Worker, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+workerColumns+`,
		(SELECT count(*) FROM jobs j
		 WHERE j.worker_id = workers.id AND j.state IN ('leased', 'running'))
		FROM workers ORDER BY last_heartbeat DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Worker, error) {
		var inUse int
		w, err := scanWorker(r, &inUse)
		w.SlotsInUse = inUse
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return out, nil
}

func validWorkerState(s string) bool {
	return s == "active" || s == "draining" || s == "dead"
}

// queueStatsSQL reads both from the partial index jobs_queued_seq (state
// = 'queued'), never from the whole table.
const queueStatsSQL = `SELECT
	(SELECT count(*) FROM jobs WHERE state = 'queued'),
	(SELECT created_at FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1)`

// QueueStats counts the queued jobs and finds the first one's submission
// time.
func (s *Store) QueueStats(ctx context.Context) (store.QueueStats, error) {
	var q store.QueueStats
	if err := s.pool.QueryRow(ctx, queueStatsSQL).Scan(&q.Queued, &q.OldestCreatedAt); err != nil {
		return store.QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	q.OldestCreatedAt = utcPtr(q.OldestCreatedAt)
	return q, nil
}
