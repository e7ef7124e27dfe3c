package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// logColumns are the columns AppendLogs copies, in order.
var logColumns = []string{"job_id", "attempt", "stream", "seq", "time", "data"}

// AppendLogs stores chunks of the current active attempt, skipping chunks
// already stored so that a worker can retry an upload.
//
// The chunks go in with COPY, in the order given (so chunk IDs follow
// it): a megabyte of log costs PostgreSQL about a tenth of what an INSERT
// of unnested arrays did, and the server no arrays to build. COPY has no
// ON CONFLICT, so the chunks already stored are looked up first (by the
// unique index, one probe a chunk) and left out; an upload racing its own
// retry can still collide, and then the transaction runs again and finds
// them.
func (s *Store) AppendLogs(ctx context.Context, ref store.AttemptRef, chunks []store.LogChunk) error {
	var err error
	for try := 0; ; try++ {
		err = s.tx(ctx, func(tx pgx.Tx) error { return appendLogs(ctx, tx, ref, chunks) })
		if err == nil || try == 2 || pgCode(err) != codeUniqueViolation {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("append logs of %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	return nil
}

func appendLogs(ctx context.Context, tx pgx.Tx, ref store.AttemptRef, chunks []store.LogChunk) error {
	// FOR SHARE: uploads for one job may run side by side, but not
	// beside the FinishAttempt or claim that ends this attempt.
	if _, err := checkCurrent(ctx, tx, ref, "FOR SHARE"); err != nil {
		return err
	}
	if len(chunks) == 0 {
		return nil
	}
	type key struct {
		stream string
		seq    int64
	}
	streams := make([]string, len(chunks))
	seqs := make([]int64, len(chunks))
	for i, c := range chunks {
		streams[i], seqs[i] = c.Stream, c.Seq
	}
	rows, err := tx.Query(ctx, `SELECT c.stream, c.seq FROM job_log_chunks c
		JOIN unnest($3::text[], $4::bigint[]) AS u(stream, seq) ON c.stream = u.stream AND c.seq = u.seq
		WHERE c.job_id = $1 AND c.attempt = $2`, ref.JobID, ref.Attempt, streams, seqs)
	if err != nil {
		return err
	}
	skip := map[key]bool{}
	var k key
	_, err = pgx.ForEachRow(rows, []any{&k.stream, &k.seq}, func() error {
		skip[k] = true
		return nil
	})
	if err != nil {
		return err
	}
	// A chunk stored, or sent twice in this batch, goes in once.
	rowsIn := make([][]any, 0, len(chunks))
	for _, c := range chunks {
		k := key{c.Stream, c.Seq}
		if skip[k] {
			continue
		}
		skip[k] = true
		data := c.Data
		if data == nil {
			data = []byte{}
		}
		rowsIn = append(rowsIn, []any{ref.JobID, ref.Attempt, c.Stream, c.Seq, nowOr(c.Time), data})
	}
	if len(rowsIn) == 0 {
		return nil
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"job_log_chunks"}, logColumns, pgx.CopyFromRows(rowsIn))
	return err
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
