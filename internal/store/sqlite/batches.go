package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

const batchColumns = `seq, id, name, kind, size, parallelism, idempotency_key, canceled, canceled_at,
	created_at, n_queued, n_running, n_succeeded, n_failed, n_error, n_canceled, owner_id`

func scanBatch(sc scanner) (store.Batch, error) {
	var (
		b          store.Batch
		key        sql.NullString
		canceledAt sql.NullInt64
		created    int64
		canceled   bool
	)
	err := sc.Scan(&b.Seq, &b.ID, &b.Name, &b.Kind, &b.Size, &b.Parallelism, &key, &canceled, &canceledAt,
		&created, &b.Counts.Queued, &b.Counts.Running, &b.Counts.Succeeded, &b.Counts.Failed,
		&b.Counts.Error, &b.Counts.Canceled, &b.Owner)
	if err != nil {
		return store.Batch{}, err
	}
	b.IdempotencyKey, b.Canceled = key.String, canceled
	b.CreatedAt, b.CanceledAt = fromNanos(created), fromNullNanos(canceledAt)
	return b, nil
}

func getBatch(ctx context.Context, q querier, id string) (store.Batch, error) {
	b, err := scanBatch(q.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Batch{}, store.ErrNotFound
	}
	return b, err
}

// CreateBatch stores the batch and its items in one write transaction, or
// finds the batch stored under its idempotency key.
func (s *Store) CreateBatch(ctx context.Context, nb store.NewBatch) (store.Batch, bool, error) {
	var key sql.NullString
	if nb.IdempotencyKey != "" {
		key = sql.NullString{String: nb.IdempotencyKey, Valid: true}
	}
	t := nb.Item
	_, env, err := encodeJSON(nil, t.Env)
	if err != nil {
		return store.Batch{}, false, fmt.Errorf("create batch %s: %w", nb.ID, err)
	}
	script := t.Script
	if script == nil {
		script = []byte{}
	}
	created := nanos(nowOr(nb.CreatedAt))
	reqs := string(store.EncodeRequirements(t.Requirements))
	var (
		out   store.Batch
		fresh bool
	)
	err = s.write(ctx, func(tx *sql.Tx) error {
		fresh = false
		if key.Valid { // a key older than the window is free again
			if _, err := tx.ExecContext(ctx, `UPDATE batches SET idempotency_key = NULL WHERE idempotency_key = ? AND created_at < ?`,
				key, created-int64(store.IdempotencyWindow)); err != nil {
				return err
			}
		}
		if key.Valid {
			b, err := scanBatch(tx.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE idempotency_key = ?`, key))
			if err == nil {
				out = b
				if b.Size != len(nb.Items) || b.Name != nb.Name || b.Kind != nb.Kind {
					return fmt.Errorf("key %q: %w", nb.IdempotencyKey, store.ErrBatchKeyReused)
				}
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		b, err := scanBatch(tx.QueryRowContext(ctx, `INSERT INTO batches (id, name, kind, size, parallelism,
			idempotency_key, script, inputs, created_at, n_queued, owner_id)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?4, ?10) RETURNING `+batchColumns,
			nb.ID, nb.Name, nb.Kind, len(nb.Items), nb.Parallelism, key, script, nullText(t.Inputs), created, nb.Owner))
		if err != nil {
			return err
		}
		out, fresh = b, true
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO jobs (id, state, file_name, script,
			script_size, args, runtime, env, memory_bytes, cpus, pids, timeout_seconds,
			network, max_attempts, retries, requirements, log_limit, created_at,
			inputs, stdin_sha256, stdin_size, disk_bytes, batch_id, batch_index, batch_input, owner_id, secret_env)
			VALUES (?, 'queued', ?, x'', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, it := range nb.Items {
			args, _, err := encodeJSON(it.Args, nil)
			if err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
			if _, err := stmt.ExecContext(ctx, it.ID, t.FileName, len(script), args, t.Runtime, env,
				t.Limits.MemoryBytes, t.Limits.CPUs, t.Limits.Pids, t.Limits.TimeoutSeconds, t.Network,
				t.MaxAttempts, t.Retries, reqs, store.LogLimitOr(t.LogLimit), created,
				nullText(it.Inputs), t.Stdin.SHA256, t.Stdin.Size, t.Limits.DiskBytes, nb.ID, i, it.Input, nb.Owner, nullBlob(it.SecretEnv)); err != nil {
				return fmt.Errorf("item %d (%s): %w", i, it.ID, err)
			}
			if err := insertRefs(ctx, tx, it.ID, it.Blobs); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		return insertRefs(ctx, tx, nb.ID, t.Blobs)
	})
	if errors.Is(err, store.ErrBatchKeyReused) {
		return out, false, fmt.Errorf("create batch %s: %w", nb.ID, err)
	}
	if err != nil {
		return store.Batch{}, false, fmt.Errorf("create batch %s: %w", nb.ID, err)
	}
	return out, fresh, nil
}

// GetBatch returns a batch with its counts.
func (s *Store) GetBatch(ctx context.Context, id string) (store.Batch, error) {
	b, err := getBatch(ctx, s.r, id)
	if err != nil {
		return store.Batch{}, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b, nil
}

// BatchShared returns the script and shared inputs of a batch.
func (s *Store) BatchShared(ctx context.Context, id string) (store.BatchShared, error) {
	var (
		sh     store.BatchShared
		inputs sql.NullString
	)
	err := s.r.QueryRowContext(ctx, `SELECT kind, size, script, inputs FROM batches WHERE id = ?`, id).
		Scan(&sh.Kind, &sh.Size, &sh.Script, &inputs)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.BatchShared{}, fmt.Errorf("shared files of batch %s: %w", id, err)
	}
	if sh.Script == nil {
		sh.Script = []byte{}
	}
	if inputs.Valid {
		sh.Inputs = []byte(inputs.String)
	}
	return sh, nil
}

// ListBatches returns batches newest first.
func (s *Store) ListBatches(ctx context.Context, p store.ListBatchesParams) ([]store.Batch, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches
		WHERE (?1 = 0 OR seq < ?1) AND (NOT ?3 OR owner_id = ?4)
		ORDER BY seq DESC LIMIT ?2`, p.BeforeSeq, limit, p.OwnerSet, p.Owner)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	defer rows.Close()
	var out []store.Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("list batches: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	return out, nil
}

// ListBatchItems returns a batch's items in index order.
func (s *Store) ListBatchItems(ctx context.Context, p store.ListBatchItemsParams) ([]store.Job, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	states, err := json.Marshal(p.States)
	if err != nil {
		return nil, fmt.Errorf("list items of batch %s: %w", p.BatchID, err)
	}
	jobs, err := queryJobs(ctx, s.r, `SELECT `+jobColumns+` FROM jobs
		WHERE batch_id = ?1 AND batch_index >= ?2
		  AND (?3 = 'null' OR ?3 = '[]' OR state IN (SELECT value FROM json_each(?3)))
		ORDER BY batch_index LIMIT ?4`, p.BatchID, p.FromIndex, string(states), limit)
	if err == nil && len(jobs) == 0 {
		_, err = getBatch(ctx, s.r, p.BatchID)
	}
	if err != nil {
		return nil, fmt.Errorf("list items of batch %s: %w", p.BatchID, err)
	}
	return jobs, nil
}

// SetBatchParallelism changes a batch's cap.
func (s *Store) SetBatchParallelism(ctx context.Context, id string, n int) (store.Batch, error) {
	var b store.Batch
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = scanBatch(tx.QueryRowContext(ctx, `UPDATE batches SET parallelism = ? WHERE id = ? RETURNING `+batchColumns, n, id))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return store.Batch{}, fmt.Errorf("set parallelism of batch %s: %w", id, err)
	}
	return b, nil
}

// CancelBatch cancels a batch's items: the queued ones in one statement
// (store.DecideCancel for a queued job), the active ones flagged one by
// one as store.DecideCancel decides.
func (s *Store) CancelBatch(ctx context.Context, id string, now time.Time) (store.Batch, []store.Job, error) {
	now = nowOr(now)
	var (
		b      store.Batch
		active []store.Job
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		active = active[:0]
		if _, err := getBatch(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'canceled', reason = 'canceled', message = ?2,
			finished_at = ?3 WHERE batch_id = ?1 AND state = 'queued'`, id, store.CanceledBeforeStart, nanos(now))
		if err != nil {
			return err
		}
		canceled, err := res.RowsAffected()
		if err != nil {
			return err
		}
		found, err := queryJobs(ctx, tx, `SELECT `+jobColumns+` FROM jobs
			WHERE batch_id = ? AND state IN ('leased', 'running') ORDER BY id`, id)
		if err != nil {
			return err
		}
		d := batchDeltas{}
		for _, cur := range found {
			c, err := store.DecideCancel(cur, now)
			if err != nil {
				return err
			}
			j, err := apply(ctx, tx, c, d)
			if err != nil {
				return err
			}
			active = append(active, j)
		}
		if err := d.flush(ctx, tx); err != nil {
			return err
		}
		b, err = scanBatch(tx.QueryRowContext(ctx, `UPDATE batches SET canceled = 1,
			canceled_at = coalesce(canceled_at, ?2), n_queued = n_queued - ?3, n_canceled = n_canceled + ?3
			WHERE id = ?1 RETURNING `+batchColumns, id, nanos(now), canceled))
		return err
	})
	if err != nil {
		return store.Batch{}, nil, fmt.Errorf("cancel batch %s: %w", id, err)
	}
	return b, active, nil
}

// RetryBatch queues the batch's failed items again, one by one as
// store.DecideRetry decides.
func (s *Store) RetryBatch(ctx context.Context, id string) (store.Batch, int, error) {
	var (
		b      store.Batch
		queued int
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		queued = 0
		if _, err := getBatch(ctx, tx, id); err != nil {
			return err
		}
		found, err := queryJobs(ctx, tx, `SELECT `+jobColumns+` FROM jobs
			WHERE batch_id = ? AND state IN ('failed', 'timed_out', 'oom_killed', 'error', 'lost')
			ORDER BY id`, id)
		if err != nil {
			return err
		}
		d := batchDeltas{}
		for _, cur := range found {
			c, ok := store.DecideRetry(cur)
			if !ok {
				continue
			}
			if _, err := apply(ctx, tx, c, d); err != nil {
				return err
			}
			queued++
		}
		if err := d.flush(ctx, tx); err != nil {
			return err
		}
		b, err = scanBatch(tx.QueryRowContext(ctx, `UPDATE batches SET
			canceled = canceled AND ?2 = 0, canceled_at = CASE WHEN ?2 = 0 THEN canceled_at END
			WHERE id = ?1 RETURNING `+batchColumns, id, queued))
		return err
	})
	if err != nil {
		return store.Batch{}, 0, fmt.Errorf("retry batch %s: %w", id, err)
	}
	return b, queued, nil
}
