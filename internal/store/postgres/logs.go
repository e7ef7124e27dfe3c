package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// appendLogsSQL inserts a batch in the order given (so chunk IDs follow it)
// and skips chunks already stored.
const appendLogsSQL = `
INSERT INTO job_log_chunks (job_id, attempt, stream, seq, time, data)
SELECT $1, $2, u.stream, u.seq, u.time, u.data
FROM unnest($3::text[], $4::bigint[], $5::timestamptz[], $6::bytea[])
    WITH ORDINALITY AS u(stream, seq, time, data, n)
ORDER BY u.n
ON CONFLICT (job_id, attempt, stream, seq) DO NOTHING`

// AppendLogs stores chunks of the current active attempt, skipping chunks
// already stored so that a worker can retry an upload.
func (s *Store) AppendLogs(ctx context.Context, ref store.AttemptRef, chunks []store.LogChunk) error {
	streams := make([]string, len(chunks))
	seqs := make([]int64, len(chunks))
	times := make([]time.Time, len(chunks))
	data := make([][]byte, len(chunks))
	for i, c := range chunks {
		streams[i], seqs[i], times[i], data[i] = c.Stream, c.Seq, nowOr(c.Time), c.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// FOR SHARE: uploads for one job may run side by side, but not
		// beside the FinishAttempt or claim that ends this attempt.
		if _, err := checkCurrent(ctx, tx, ref, "FOR SHARE"); err != nil {
			return err
		}
		if len(chunks) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, appendLogsSQL, ref.JobID, ref.Attempt, streams, seqs, times, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("append logs of %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	return nil
}

// ReadLogs returns a job's chunks with ID > p.AfterID, oldest first. An
// unknown job has no chunks.
func (s *Store) ReadLogs(ctx context.Context, p store.ReadLogsParams) ([]store.LogChunk, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	var streams []string
	if len(p.Streams) > 0 {
		streams = p.Streams
	}
	rows, err := s.pool.Query(ctx, `SELECT id, job_id, attempt, stream, seq, time, data
		FROM job_log_chunks
		WHERE job_id = $1 AND id > $2 AND ($3::text[] IS NULL OR stream = ANY ($3))
		ORDER BY id LIMIT $4`, p.JobID, p.AfterID, streams, limit)
	if err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", p.JobID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.LogChunk, error) {
		var c store.LogChunk
		err := r.Scan(&c.ID, &c.JobID, &c.Attempt, &c.Stream, &c.Seq, &c.Time, &c.Data)
		c.Time = utc(c.Time)
		if c.Data == nil {
			c.Data = []byte{}
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", p.JobID, err)
	}
	return out, nil
}

// LogOffsets sums the stored chunks of an attempt per stream.
func (s *Store) LogOffsets(ctx context.Context, ref store.AttemptRef) (map[string]store.LogOffset, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream, COALESCE(SUM(length(data)), 0)::bigint, MAX(seq)
		FROM job_log_chunks WHERE job_id = $1 AND attempt = $2 GROUP BY stream`, ref.JobID, ref.Attempt)
	if err != nil {
		return nil, fmt.Errorf("log offsets of %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	defer rows.Close()
	out := map[string]store.LogOffset{}
	for rows.Next() {
		var stream string
		var o store.LogOffset
		if err := rows.Scan(&stream, &o.Bytes, &o.LastSeq); err != nil {
			return nil, fmt.Errorf("log offsets of %s/%d: %w", ref.JobID, ref.Attempt, err)
		}
		out[stream] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("log offsets of %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	return out, nil
}

// MarkLogsTruncated records that the current attempt's output reached the
// job's log limit.
func (s *Store) MarkLogsTruncated(ctx context.Context, ref store.AttemptRef) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := checkCurrent(ctx, tx, ref, "FOR UPDATE"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE jobs SET logs_truncated = true WHERE id = $1 AND NOT logs_truncated`, ref.JobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark logs of %s/%d truncated: %w", ref.JobID, ref.Attempt, err)
	}
	return nil
}
