package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// applySQL writes a store.Change: the columns of store.ApplyColumns, only
// while the row is still in the state and attempt the change was decided
// on.
const applySQL = `UPDATE jobs SET (` + store.ApplyColumns + `) =
    ($4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
WHERE id = $1 AND attempt = $2 AND state = $3
RETURNING ` + jobColumns

// insertAttemptSQL records an attempt apart from its job.
const insertAttemptSQL = `INSERT INTO job_attempts (job_id, number, worker_id, state, exit_code,
        reason, message, leased_at, started_at, finished_at, rate_micros, currency)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

// apply writes c, decided on a row the caller holds locked in q (a
// transaction), and returns the job as it now is: the ended attempt and
// the job row in one round trip. How c moves its batch's counts is added
// to d, for the caller to flush before it commits.
func apply(ctx context.Context, q pgx.Tx, c store.Change, d batchDeltas) (store.Job, error) {
	if c.Unchanged {
		return c.Job, nil
	}
	d.add(c)
	j := c.Job
	b := &pgx.Batch{}
	if a := c.Ended; a != nil {
		sql := insertAttemptSQL
		if c.EndedMayExist {
			sql += ` ON CONFLICT DO NOTHING`
		}
		b.Queue(sql, a.JobID, a.Number, a.WorkerID, string(a.State), a.ExitCode,
			a.Reason, a.Message, a.LeasedAt, a.StartedAt, a.FinishedAt, a.RateMicros, a.Currency)
	}
	if o := c.Outputs; o != nil {
		b.Queue(`UPDATE jobs SET outputs = $2, outputs_skipped = $3 WHERE id = $1`,
			j.ID, textOrNull(o.Manifest), textOrNull(o.Skipped))
		if len(o.Blobs) > 0 {
			ids := make([]string, len(o.Blobs))
			for i := range ids {
				ids[i] = j.ID
			}
			b.Queue(insertRefsSQL, o.Blobs, ids)
		}
	}
	b.Queue(applySQL, j.ID, c.Attempt, string(c.From),
		string(j.State), j.WorkerID, j.LeasedAt, j.CancelRequested, j.ExitCode, j.Reason, j.Message,
		j.Failure, j.StartedAt, j.FinishedAt, j.ScriptFailures, j.LostAttempts)
	br := q.SendBatch(ctx, b)
	out, err := func() (store.Job, error) {
		if c.Ended != nil {
			if _, err := br.Exec(); err != nil {
				return store.Job{}, fmt.Errorf("record attempt %d: %w", c.Ended.Number, err)
			}
		}
		if o := c.Outputs; o != nil {
			for range 1 + min(len(o.Blobs), 1) {
				if _, err := br.Exec(); err != nil {
					return store.Job{}, fmt.Errorf("record outputs: %w", err)
				}
			}
		}
		return scanJob(br.QueryRow(), false)
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, fmt.Errorf("job %s: %w", j.ID, store.ErrChangedConcurrently)
	}
	return out, err
}

// decideLocked locks job id's row, lets decide choose the change, and
// applies it: the one shape of every state change that is not a fast
// statement. decide's error (stale attempt, finished job) comes back
// wrapped as it is.
func (s *Store) decideLocked(ctx context.Context, id string, decide func(store.Job) (store.Change, error)) (store.Job, error) {
	var j store.Job
	err := s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := getJob(ctx, tx, id, "FOR UPDATE")
		if err != nil {
			return err
		}
		c, err := decide(cur)
		if err != nil {
			j = cur
			return err
		}
		d := batchDeltas{}
		if j, err = apply(ctx, tx, c, d); err != nil {
			return err
		}
		return d.flush(ctx, tx)
	})
	return j, err
}

// batchDeltas are the changes to batches' counts that a transaction's
// job changes make (store.Change.BatchDelta), by batch id.
type batchDeltas map[string]store.BatchCounts

func (d batchDeltas) add(c store.Change) {
	if id, delta := c.BatchDelta(); id != "" {
		d[id] = d[id].Plus(delta)
	}
}

// bumpBatchSQL adds to a batch's counts.
const bumpBatchSQL = `UPDATE batches SET n_queued = n_queued + $2, n_running = n_running + $3,
    n_succeeded = n_succeeded + $4, n_failed = n_failed + $5, n_error = n_error + $6,
    n_canceled = n_canceled + $7
WHERE id = $1`

// flush writes d in tx, in batch id order: every transaction locks job
// rows first and batch rows after them, each set in id order, so that two
// never wait on each other crosswise.
func (d batchDeltas) flush(ctx context.Context, tx pgx.Tx) error {
	for _, id := range slices.Sorted(maps.Keys(d)) {
		c := d[id]
		if c == (store.BatchCounts{}) {
			continue
		}
		if _, err := tx.Exec(ctx, bumpBatchSQL, id, c.Queued, c.Running, c.Succeeded, c.Failed, c.Error, c.Canceled); err != nil {
			return fmt.Errorf("count items of batch %s: %w", id, err)
		}
	}
	clear(d)
	return nil
}

// textOrNull is b as a text parameter, NULL for nil.
func textOrNull(b []byte) *string {
	if b == nil {
		return nil
	}
	t := string(b)
	return &t
}
