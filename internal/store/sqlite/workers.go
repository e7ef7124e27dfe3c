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

const workerColumns = `id, name, hostname, version, executor, slots, state,
	registered_at, last_heartbeat, max_memory_bytes, max_cpus, max_pids,
	max_timeout_seconds, max_disk_bytes, coalesce(instance, '') AS instance, token_id,
	price_micros, currency, cpus, memory_bytes, billing_seconds, warm`

func scanWorker(sc scanner, extra ...any) (store.Worker, error) {
	var (
		w              store.Worker
		registered, hb int64
	)
	dest := append([]any{&w.ID, &w.Name, &w.Hostname, &w.Version, &w.Executor,
		&w.Slots, &w.State, &registered, &hb, &w.Max.MemoryBytes, &w.Max.CPUs,
		&w.Max.Pids, &w.Max.TimeoutSeconds, &w.Max.DiskBytes, &w.Instance, &w.TokenID,
		&w.Pricing.PriceMicros, &w.Pricing.Currency, &w.Pricing.CPUs, &w.Pricing.MemoryBytes, &w.Pricing.BillingSeconds, &w.Warm}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return store.Worker{}, err
	}
	w.RegisteredAt, w.LastHeartbeat = fromNanos(registered), fromNanos(hb)
	return w, nil
}

// UpsertWorker registers a worker or refreshes its registration, keeping
// the first registered_at. It counts as a heartbeat and makes it active,
// whether it was draining or marked dead: a worker registering again is a
// fresh start. The id stays with its instance while that one is alive
// (see store.Store); the refusal reads the holder in the same transaction.
func (s *Store) UpsertWorker(ctx context.Context, w store.Worker, aliveAfter time.Time) (store.Worker, error) {
	hb := nowOr(w.LastHeartbeat)
	registered := w.RegisteredAt
	if registered.IsZero() {
		registered = hb
	}
	var out store.Worker
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanWorker(tx.QueryRowContext(ctx, `INSERT INTO workers
			(id, name, hostname, version, executor, slots, state, registered_at,
				last_heartbeat, max_memory_bytes, max_cpus, max_pids, max_timeout_seconds,
				instance, max_disk_bytes, token_id, price_micros, currency, cpus, memory_bytes, billing_seconds)
			VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, nullif(?, ''), ?, ?, ?, ?, ?, ?, ?)
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
				OR workers.state = 'dead' OR workers.last_heartbeat < ?
			RETURNING `+workerColumns,
			w.ID, w.Name, w.Hostname, w.Version, w.Executor, w.Slots,
			nanos(registered), nanos(hb), w.Max.MemoryBytes, w.Max.CPUs,
			w.Max.Pids, w.Max.TimeoutSeconds, w.Instance, w.Max.DiskBytes, w.TokenID,
			w.Pricing.PriceMicros, w.Pricing.Currency, w.Pricing.CPUs, w.Pricing.MemoryBytes, w.Pricing.BillingSeconds,
			nanos(aliveAfter)))
		if errors.Is(err, sql.ErrNoRows) {
			return inUse(ctx, tx, w.ID)
		}
		return err
	})
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE workers SET last_heartbeat = ?,
				state = CASE state WHEN 'dead' THEN 'active' ELSE state END,
				instance = coalesce(instance, nullif(?, ''))
			WHERE id = ? AND (? = '' OR instance IS NULL OR instance = ?)`,
			nanos(nowOr(now)), instance, workerID, instance, instance)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		return inUse(ctx, tx, workerID)
	})
	if err != nil {
		return fmt.Errorf("heartbeat of worker %s: %w", workerID, err)
	}
	return nil
}

// inUse is the error for a write to workerID that its holder refused: a
// *store.WorkerInUseError naming the holder, or store.ErrNotFound if there
// is none.
func inUse(ctx context.Context, tx *sql.Tx, workerID string) error {
	holder, err := scanWorker(tx.QueryRowContext(ctx, `SELECT `+workerColumns+` FROM workers WHERE id = ?`, workerID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	var out []store.Worker
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE workers SET state = 'dead'
			WHERE state <> 'dead' AND last_heartbeat < ?
			RETURNING `+workerColumns, nanos(cutoff))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			w, err := scanWorker(rows)
			if err != nil {
				return err
			}
			out = append(out, w)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("mark dead workers: %w", err)
	}
	// RETURNING has no order of its own.
	slices.SortFunc(out, func(a, b store.Worker) int {
		return cmp.Or(a.LastHeartbeat.Compare(b.LastHeartbeat), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// SetWorkerState sets a worker's state, or store.ErrNotFound.
func (s *Store) SetWorkerState(ctx context.Context, workerID, state string) error {
	if !validWorkerState(state) {
		return fmt.Errorf("set state of worker %s: unknown state %q", workerID, state)
	}
	return s.updateWorker(ctx, "set state of worker "+workerID,
		`UPDATE workers SET state = ? WHERE id = ?`, state, workerID)
}

// SetWorkerWarm records how many warm containers a worker has waiting,
// or store.ErrNotFound.
func (s *Store) SetWorkerWarm(ctx context.Context, workerID string, warm int) error {
	return s.updateWorker(ctx, "set warm containers of worker "+workerID,
		`UPDATE workers SET warm = ? WHERE id = ?`, warm, workerID)
}

// DeleteWorker removes a worker that holds no active attempts.
func (s *Store) DeleteWorker(ctx context.Context, workerID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var exists, busy bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM workers WHERE id = ?),
			EXISTS (SELECT 1 FROM jobs WHERE worker_id = ? AND state IN ('leased', 'running'))`,
			workerID, workerID).Scan(&exists, &busy); err != nil {
			return err
		}
		switch {
		case !exists:
			return store.ErrNotFound
		case busy:
			return store.ErrWorkerBusy
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM workers WHERE id = ?`, workerID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete worker %s: %w", workerID, err)
	}
	return nil
}

func (s *Store) updateWorker(ctx context.Context, what, query string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ListWorkers returns all workers, most recently heard from first, with the
// number of attempts each holds leased or running.
func (s *Store) ListWorkers(ctx context.Context) ([]store.Worker, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+workerColumns+`,
		(SELECT count(*) FROM jobs j
		 WHERE j.worker_id = workers.id AND j.state IN ('leased', 'running'))
		FROM workers ORDER BY last_heartbeat DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer rows.Close()
	var out []store.Worker
	for rows.Next() {
		var inUse int
		w, err := scanWorker(rows, &inUse)
		if err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		w.SlotsInUse = inUse
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
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
	var (
		q      store.QueueStats
		oldest sql.NullInt64
	)
	if err := s.r.QueryRowContext(ctx, queueStatsSQL).Scan(&q.Queued, &oldest); err != nil {
		return store.QueueStats{}, fmt.Errorf("queue stats: %w", err)
	}
	q.OldestCreatedAt = fromNullNanos(oldest)
	return q, nil
}
