package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

const workerColumns = `id, name, hostname, version, executor, slots, state,
	registered_at, last_heartbeat`

func scanWorker(sc scanner, extra ...any) (store.Worker, error) {
	var (
		w              store.Worker
		registered, hb int64
	)
	dest := append([]any{&w.ID, &w.Name, &w.Hostname, &w.Version, &w.Executor,
		&w.Slots, &w.State, &registered, &hb}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return store.Worker{}, err
	}
	w.RegisteredAt, w.LastHeartbeat = fromNanos(registered), fromNanos(hb)
	return w, nil
}

// UpsertWorker registers a worker or refreshes its registration, keeping
// the first registered_at. It counts as a heartbeat and makes it active.
func (s *Store) UpsertWorker(ctx context.Context, w store.Worker) (store.Worker, error) {
	hb := nowOr(w.LastHeartbeat)
	registered := w.RegisteredAt
	if registered.IsZero() {
		registered = hb
	}
	var out store.Worker
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanWorker(tx.QueryRowContext(ctx, `INSERT INTO workers
			(id, name, hostname, version, executor, slots, state, registered_at, last_heartbeat)
			VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name,
				hostname = excluded.hostname, version = excluded.version,
				executor = excluded.executor, slots = excluded.slots,
				state = 'active', last_heartbeat = excluded.last_heartbeat
			RETURNING `+workerColumns,
			w.ID, w.Name, w.Hostname, w.Version, w.Executor, w.Slots,
			nanos(registered), nanos(hb)))
		return err
	})
	if err != nil {
		return store.Worker{}, fmt.Errorf("upsert worker %s: %w", w.ID, err)
	}
	return out, nil
}

// Heartbeat records that the worker is alive, or store.ErrNotFound.
func (s *Store) Heartbeat(ctx context.Context, workerID string, now time.Time) error {
	return s.updateWorker(ctx, "heartbeat of worker "+workerID,
		`UPDATE workers SET last_heartbeat = ? WHERE id = ?`, nanos(nowOr(now)), workerID)
}

// SetWorkerState sets a worker's state, or store.ErrNotFound.
func (s *Store) SetWorkerState(ctx context.Context, workerID, state string) error {
	if !validWorkerState(state) {
		return fmt.Errorf("set state of worker %s: unknown state %q", workerID, state)
	}
	return s.updateWorker(ctx, "set state of worker "+workerID,
		`UPDATE workers SET state = ? WHERE id = ?`, state, workerID)
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
		(SELECT count(*) FROM job_attempts a
		 WHERE a.worker_id = workers.id AND a.state IN ('leased', 'running'))
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
