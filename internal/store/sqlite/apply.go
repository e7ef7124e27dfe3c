package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/rgrid/rgrid/internal/store"
)

// applySQL writes a store.Change: the columns of store.ApplyColumns, only
// while the row is still in the state and attempt the change was decided
// on.
const applySQL = `UPDATE jobs SET (` + store.ApplyColumns + `) =
    (?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
WHERE id = ?1 AND attempt = ?2 AND state = ?3
RETURNING ` + jobColumns

// insertAttemptSQL records an attempt apart from its job.
const insertAttemptSQL = `INSERT INTO job_attempts (job_id, number, worker_id, state, exit_code,
        reason, message, leased_at, started_at, finished_at, rate_micros, currency)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// apply writes c, decided on a row read in tx (the write transaction, so
// no other writer can have changed it since), and returns the job as it
// now is. How c moves its batch's counts is added to d, for the caller to
// flush before it commits.
func apply(ctx context.Context, tx *sql.Tx, c store.Change, d batchDeltas) (store.Job, error) {
	if c.Unchanged {
		return c.Job, nil
	}
	d.add(c)
	if a := c.Ended; a != nil {
		insert := insertAttemptSQL
		if c.EndedMayExist {
			insert += ` ON CONFLICT DO NOTHING`
		}
		if _, err := tx.ExecContext(ctx, insert, a.JobID, a.Number, a.WorkerID, string(a.State),
			nullInt(a.ExitCode), a.Reason, a.Message, nanos(a.LeasedAt),
			nullNanos(a.StartedAt), nullNanos(a.FinishedAt), a.RateMicros, a.Currency); err != nil {
			return store.Job{}, fmt.Errorf("record attempt %d: %w", a.Number, err)
		}
	}
	if o := c.Outputs; o != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET outputs = ?, outputs_skipped = ? WHERE id = ?`,
			nullText(o.Manifest), nullText(o.Skipped), c.Job.ID); err != nil {
			return store.Job{}, fmt.Errorf("record outputs: %w", err)
		}
		if err := insertRefs(ctx, tx, c.Job.ID, o.Blobs); err != nil {
			return store.Job{}, fmt.Errorf("record outputs: %w", err)
		}
	}
	j := c.Job
	out, err := scanJob(tx.QueryRowContext(ctx, applySQL, j.ID, c.Attempt, string(c.From),
		string(j.State), j.WorkerID, nullNanos(j.LeasedAt), j.CancelRequested, nullInt(j.ExitCode),
		j.Reason, j.Message, j.Failure, nullNanos(j.StartedAt), nullNanos(j.FinishedAt),
		j.ScriptFailures, j.LostAttempts), false)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, fmt.Errorf("job %s: %w", j.ID, store.ErrChangedConcurrently)
	}
	return out, err
}

// decideWrite reads job id's row in a write transaction, lets decide
// choose the change, and applies it: the one shape of every state change.
// decide's error (stale attempt, finished job) comes back as it is, with
// the job as it was.
func (s *Store) decideWrite(ctx context.Context, id string, decide func(store.Job) (store.Change, error)) (store.Job, error) {
	var j store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		cur, err := getJob(ctx, tx, id, false)
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
const bumpBatchSQL = `UPDATE batches SET n_queued = n_queued + ?2, n_running = n_running + ?3,
    n_succeeded = n_succeeded + ?4, n_failed = n_failed + ?5, n_error = n_error + ?6,
    n_canceled = n_canceled + ?7
WHERE id = ?1`

// flush writes d in tx.
func (d batchDeltas) flush(ctx context.Context, tx *sql.Tx) error {
	for _, id := range slices.Sorted(maps.Keys(d)) {
		c := d[id]
		if c == (store.BatchCounts{}) {
			continue
		}
		if _, err := tx.ExecContext(ctx, bumpBatchSQL, id, c.Queued, c.Running, c.Succeeded, c.Failed, c.Error, c.Canceled); err != nil {
			return fmt.Errorf("count items of batch %s: %w", id, err)
		}
	}
	clear(d)
	return nil
}
