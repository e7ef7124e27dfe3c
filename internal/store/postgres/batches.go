package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

const batchColumns = `seq, id, name, kind, size, parallelism, idempotency_key, canceled, canceled_at,
	created_at, n_queued, n_running, n_succeeded, n_failed, n_error, n_canceled, owner_id`

func scanBatch(row pgx.Row) (store.Batch, error) {
	var (
		b   store.Batch
		key *string
	)
	err := row.Scan(&b.Seq, &b.ID, &b.Name, &b.Kind, &b.Size, &b.Parallelism, &key, &b.Canceled, &b.CanceledAt,
		&b.CreatedAt, &b.Counts.Queued, &b.Counts.Running, &b.Counts.Succeeded, &b.Counts.Failed,
		&b.Counts.Error, &b.Counts.Canceled, &b.Owner)
	if err != nil {
		return store.Batch{}, err
	}
	if key != nil {
		b.IdempotencyKey = *key
	}
	b.CreatedAt, b.CanceledAt = utc(b.CreatedAt), utcPtr(b.CanceledAt)
	return b, nil
}

func getBatch(ctx context.Context, q querier, id, lock string) (store.Batch, error) {
	b, err := scanBatch(q.QueryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE id = $1 `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Batch{}, store.ErrNotFound
	}
	return b, err
}

// insertBatchSQL stores a batch, or nothing when its idempotency key is
// stored already (RETURNING then returns no row).
const insertBatchSQL = `INSERT INTO batches (id, name, kind, size, parallelism, idempotency_key, script,
	inputs, created_at, n_queued, owner_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $4, $10)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING ` + batchColumns

// insertItemsSQL stores a batch's items from one array per column of
// their own, and one parameter per column they share: ten thousand items
// are one statement. The script is the batch's (script_size is its size).
const insertItemsSQL = `INSERT INTO jobs (id, state, file_name, script, script_size, args, runtime, env,
	memory_bytes, cpus, pids, timeout_seconds, network, max_attempts, retries, requirements,
	log_limit, created_at, inputs, stdin_sha256, stdin_size, disk_bytes, batch_id, batch_index, batch_input, owner_id, secret_env)
SELECT id, 'queued', $6, ''::bytea, $7, args::jsonb, $8, $9::jsonb,
	$10, $11, $12, $13, $14, $15, $16, $17::jsonb,
	$18, $19, inputs, $20, $21, $22, $23, idx, input, $24, secret_env
FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $25::bytea[])
	AS t(id, idx, input, args, inputs, secret_env)`

// CreateBatch stores the batch and its items in one transaction, or finds
// the batch stored under its idempotency key.
func (s *Store) CreateBatch(ctx context.Context, nb store.NewBatch) (store.Batch, bool, error) {
	var key *string
	if nb.IdempotencyKey != "" {
		key = &nb.IdempotencyKey
	}
	t := nb.Item
	n := len(nb.Items)
	ids, inputs, args, manifests := make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
	idx := make([]int32, n)
	secretEnvs := make([][]byte, n) // nil: NULL
	refHashes, refOwners := make([]string, 0, len(t.Blobs)+n), make([]string, 0, len(t.Blobs)+n)
	for _, h := range t.Blobs {
		refHashes, refOwners = append(refHashes, h), append(refOwners, nb.ID)
	}
	for i, it := range nb.Items {
		a, _, err := encodeJSON(it.Args, nil)
		if err != nil {
			return store.Batch{}, false, fmt.Errorf("create batch %s: item %d: %w", nb.ID, i, err)
		}
		ids[i], idx[i], inputs[i], args[i], manifests[i] = it.ID, int32(i), it.Input, string(a), textOrNull(it.Inputs)
		if len(it.SecretEnv) > 0 {
			secretEnvs[i] = it.SecretEnv
		}
		for _, h := range it.Blobs {
			refHashes, refOwners = append(refHashes, h), append(refOwners, it.ID)
		}
	}
	_, env, err := encodeJSON(nil, t.Env)
	if err != nil {
		return store.Batch{}, false, fmt.Errorf("create batch %s: %w", nb.ID, err)
	}
	script := t.Script
	if script == nil {
		script = []byte{}
	}
	created := nowOr(nb.CreatedAt)
	var (
		out   store.Batch
		fresh bool
	)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// A key older than the window is free again.
		if key != nil {
			if _, err := tx.Exec(ctx, `UPDATE batches SET idempotency_key = NULL WHERE idempotency_key = $1 AND created_at < $2`,
				key, created.Add(-store.IdempotencyWindow)); err != nil {
				return err
			}
		}
		b, err := scanBatch(tx.QueryRow(ctx, insertBatchSQL, nb.ID, nb.Name, nb.Kind, n, nb.Parallelism, key,
			script, textOrNull(t.Inputs), created, nb.Owner))
		if errors.Is(err, pgx.ErrNoRows) {
			// The key is taken: by a batch committed before, or by a
			// concurrent submission the insert waited for.
			out, err = s.batchByKey(ctx, tx, nb)
			return err
		}
		if err != nil {
			return err
		}
		out, fresh = b, true
		bt := &pgx.Batch{}
		bt.Queue(insertItemsSQL, ids, idx, inputs, args, manifests,
			t.FileName, int64(len(script)), t.Runtime, string(env),
			t.Limits.MemoryBytes, t.Limits.CPUs, t.Limits.Pids, t.Limits.TimeoutSeconds, t.Network,
			int32(t.MaxAttempts), int32(t.Retries), string(store.EncodeRequirements(t.Requirements)),
			store.LogLimitOr(t.LogLimit), created, t.Stdin.SHA256, t.Stdin.Size, t.Limits.DiskBytes, nb.ID, nb.Owner, secretEnvs)
		if len(refHashes) > 0 {
			bt.Queue(insertRefsSQL, refHashes, refOwners)
		}
		return tx.SendBatch(ctx, bt).Close()
	})
	if pgCode(err) == codeUniqueViolation {
		return store.Batch{}, false, fmt.Errorf("create batch %s: an item's or the batch's id exists: %w", nb.ID, err)
	}
	if err != nil {
		return store.Batch{}, false, fmt.Errorf("create batch %s: %w", nb.ID, err)
	}
	return out, fresh, nil
}

// batchByKey returns the batch stored under nb's idempotency key, or
// store.ErrBatchKeyReused when it is not nb's submission.
func (s *Store) batchByKey(ctx context.Context, q querier, nb store.NewBatch) (store.Batch, error) {
	b, err := scanBatch(q.QueryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE idempotency_key = $1`, nb.IdempotencyKey))
	if err != nil {
		return store.Batch{}, err
	}
	if b.Size != len(nb.Items) || b.Name != nb.Name || b.Kind != nb.Kind {
		return b, fmt.Errorf("key %q: %w", nb.IdempotencyKey, store.ErrBatchKeyReused)
	}
	return b, nil
}

// GetBatch returns a batch with its counts.
func (s *Store) GetBatch(ctx context.Context, id string) (store.Batch, error) {
	b, err := getBatch(ctx, s.pool, id, "")
	if err != nil {
		return store.Batch{}, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b, nil
}

// BatchShared returns the script and shared inputs of a batch.
func (s *Store) BatchShared(ctx context.Context, id string) (store.BatchShared, error) {
	var (
		sh     store.BatchShared
		inputs *string
	)
	err := s.pool.QueryRow(ctx, `SELECT kind, size, script, inputs FROM batches WHERE id = $1`, id).
		Scan(&sh.Kind, &sh.Size, &sh.Script, &inputs)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.BatchShared{}, fmt.Errorf("shared files of batch %s: %w", id, err)
	}
	sh.Inputs = bytesOf(inputs)
	return sh, nil
}

// ListBatches returns batches newest first.
func (s *Store) ListBatches(ctx context.Context, p store.ListBatchesParams) ([]store.Batch, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.pool.Query(ctx, `SELECT `+batchColumns+` FROM batches
		WHERE ($1::bigint = 0 OR seq < $1) AND (NOT $3 OR owner_id = $4)
		ORDER BY seq DESC LIMIT $2`, p.BeforeSeq, limit, p.OwnerSet, p.Owner)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Batch, error) { return scanBatch(r) })
	if err != nil {
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
	var states []string
	for _, st := range p.States {
		states = append(states, string(st))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE batch_id = $1 AND batch_index >= $2 AND ($3::text[] IS NULL OR state = ANY ($3))
		ORDER BY batch_index LIMIT $4`, p.BatchID, p.FromIndex, states, limit)
	if err != nil {
		return nil, fmt.Errorf("list items of batch %s: %w", p.BatchID, err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, false) })
	if err == nil && len(jobs) == 0 {
		_, err = getBatch(ctx, s.pool, p.BatchID, "")
	}
	if err != nil {
		return nil, fmt.Errorf("list items of batch %s: %w", p.BatchID, err)
	}
	return jobs, nil
}

// SetBatchParallelism changes a batch's cap.
func (s *Store) SetBatchParallelism(ctx context.Context, id string, n int) (store.Batch, error) {
	b, err := scanBatch(s.pool.QueryRow(ctx, `UPDATE batches SET parallelism = $2 WHERE id = $1 RETURNING `+batchColumns, id, n))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Batch{}, fmt.Errorf("set parallelism of batch %s: %w", id, err)
	}
	return b, nil
}

// cancelQueuedSQL is store.DecideCancel for every queued item of a batch
// at once ($1 the batch, $2 the message, $3 now).
const cancelQueuedSQL = `UPDATE jobs SET state = 'canceled', reason = 'canceled', message = $2, finished_at = $3
WHERE batch_id = $1 AND state = 'queued'`

// CancelBatch cancels a batch's items: the queued ones in one statement,
// the active ones flagged one by one as store.DecideCancel decides.
func (s *Store) CancelBatch(ctx context.Context, id string, now time.Time) (store.Batch, []store.Job, error) {
	now = nowOr(now)
	var (
		b      store.Batch
		active []store.Job
	)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		active = active[:0]
		if _, err := getBatch(ctx, tx, id, ""); err != nil {
			return err
		}
		// Job rows first, in id order, then the batch's (see flush).
		rows, err := tx.Query(ctx, `SELECT `+jobColumns+` FROM jobs
			WHERE batch_id = $1 AND state IN ('queued', 'leased', 'running') ORDER BY id FOR UPDATE`, id)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, false) })
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, cancelQueuedSQL, id, store.CanceledBeforeStart, now)
		if err != nil {
			return err
		}
		canceled := int(tag.RowsAffected())
		d := batchDeltas{}
		for _, cur := range found {
			if cur.State == store.StateQueued {
				continue
			}
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
		b, err = scanBatch(tx.QueryRow(ctx, `UPDATE batches SET canceled = true,
			canceled_at = coalesce(canceled_at, $2), n_queued = n_queued - $3, n_canceled = n_canceled + $3
			WHERE id = $1 RETURNING `+batchColumns, id, now, canceled))
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		queued = 0
		if _, err := getBatch(ctx, tx, id, ""); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+jobColumns+` FROM jobs
			WHERE batch_id = $1 AND state IN ('failed', 'timed_out', 'oom_killed', 'error', 'lost')
			ORDER BY id FOR UPDATE`, id)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, false) })
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
		b, err = scanBatch(tx.QueryRow(ctx, `UPDATE batches SET
			canceled = canceled AND $2 = 0, canceled_at = CASE WHEN $2 = 0 THEN canceled_at END
			WHERE id = $1 RETURNING `+batchColumns, id, queued))
		return err
	})
	if err != nil {
		return store.Batch{}, 0, fmt.Errorf("retry batch %s: %w", id, err)
	}
	return b, queued, nil
}
