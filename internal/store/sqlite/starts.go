package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// RecordStartTimes stores attempts' start times (see store.StartTimesStore).
func (s *Store) RecordStartTimes(ctx context.Context, ts []store.StartTimes) error {
	if len(ts) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, t := range ts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO attempt_starts
				(job_id, attempt, image_ns, stage_ns, container_ns, first_byte_ns) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (job_id, attempt) DO NOTHING`,
				t.JobID, t.Attempt, int64(t.Image), int64(t.Stage), int64(t.Container), int64(t.FirstByte)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record start times: %w", err)
	}
	return nil
}

// StartTimes returns a job's recorded start times, by attempt.
func (s *Store) StartTimes(ctx context.Context, jobID string) ([]store.StartTimes, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT attempt, image_ns, stage_ns, container_ns, first_byte_ns
		FROM attempt_starts WHERE job_id = ? ORDER BY attempt`, jobID)
	if err != nil {
		return nil, fmt.Errorf("start times of %s: %w", jobID, err)
	}
	defer rows.Close()
	out := []store.StartTimes{}
	for rows.Next() {
		t := store.StartTimes{JobID: jobID}
		var img, stage, ctr, first int64
		if err := rows.Scan(&t.Attempt, &img, &stage, &ctr, &first); err != nil {
			return nil, fmt.Errorf("start times of %s: %w", jobID, err)
		}
		t.Image, t.Stage, t.Container, t.FirstByte = time.Duration(img), time.Duration(stage), time.Duration(ctr), time.Duration(first)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("start times of %s: %w", jobID, err)
	}
	return out, nil
}
