package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/rgrid/rgrid/internal/store"
)

// AppendLogs stores chunks of the current active attempt, skipping chunks
// already stored so that a worker can retry an upload.
func (s *Store) AppendLogs(ctx context.Context, ref store.AttemptRef, chunks []store.LogChunk) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := checkCurrent(ctx, tx, ref); err != nil {
			return err
		}
		if len(chunks) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO job_log_chunks
			(job_id, attempt, stream, seq, time, data) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (job_id, attempt, stream, seq) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range chunks {
			data := c.Data
			if data == nil {
				data = []byte{}
			}
			if _, err := stmt.ExecContext(ctx, ref.JobID, ref.Attempt, c.Stream, c.Seq,
				nanos(nowOr(c.Time)), data); err != nil {
				return err
			}
		}
		return nil
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
	streams, err := json.Marshal(p.Streams)
	if err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", p.JobID, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, job_id, attempt, stream, seq, time, data
		FROM job_log_chunks
		WHERE job_id = ?1 AND id > ?2
		  AND (?3 = 'null' OR ?3 = '[]' OR stream IN (SELECT value FROM json_each(?3)))
		ORDER BY id LIMIT ?4`, p.JobID, p.AfterID, string(streams), limit)
	if err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", p.JobID, err)
	}
	defer rows.Close()
	var out []store.LogChunk
	for rows.Next() {
		var (
			c  store.LogChunk
			at int64
		)
		if err := rows.Scan(&c.ID, &c.JobID, &c.Attempt, &c.Stream, &c.Seq, &at, &c.Data); err != nil {
			return nil, fmt.Errorf("read logs of %s: %w", p.JobID, err)
		}
		c.Time = fromNanos(at)
		if c.Data == nil {
			c.Data = []byte{}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", p.JobID, err)
	}
	return out, nil
}

// LogOffsets sums the stored chunks of an attempt per stream.
func (s *Store) LogOffsets(ctx context.Context, ref store.AttemptRef) (map[string]store.LogOffset, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT stream, COALESCE(SUM(length(data)), 0), MAX(seq)
		FROM job_log_chunks WHERE job_id = ? AND attempt = ? GROUP BY stream`, ref.JobID, ref.Attempt)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := checkCurrent(ctx, tx, ref); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET logs_truncated = 1 WHERE id = ? AND logs_truncated = 0`, ref.JobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark logs of %s/%d truncated: %w", ref.JobID, ref.Attempt, err)
	}
	return nil
}
