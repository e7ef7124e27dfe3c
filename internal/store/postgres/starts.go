package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// RecordStartTimes stores attempts' start times in one statement (see
// store.StartTimesStore).
func (s *Store) RecordStartTimes(ctx context.Context, ts []store.StartTimes) error {
	if len(ts) == 0 {
		return nil
	}
	jobs := make([]string, len(ts))
	attempts := make([]int32, len(ts))
	img, stage, ctr, first := make([]int64, len(ts)), make([]int64, len(ts)), make([]int64, len(ts)), make([]int64, len(ts))
	for i, t := range ts {
		jobs[i], attempts[i] = t.JobID, int32(t.Attempt) //nolint:gosec // attempt numbers are small
		img[i], stage[i], ctr[i], first[i] = int64(t.Image), int64(t.Stage), int64(t.Container), int64(t.FirstByte)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO attempt_starts
		(job_id, attempt, image_ns, stage_ns, container_ns, first_byte_ns)
		SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
		ON CONFLICT (job_id, attempt) DO NOTHING`, jobs, attempts, img, stage, ctr, first); err != nil {
		return fmt.Errorf("record start times: %w", err)
	}
	return nil
}

// StartTimes returns a job's recorded start times, by attempt.
func (s *Store) StartTimes(ctx context.Context, jobID string) ([]store.StartTimes, error) {
	rows, err := s.pool.Query(ctx, `SELECT attempt, image_ns, stage_ns, container_ns, first_byte_ns
		FROM attempt_starts WHERE job_id = $1 ORDER BY attempt`, jobID)
	if err != nil {
		return nil, fmt.Errorf("start times of %s: %w", jobID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.StartTimes, error) {
		t := store.StartTimes{JobID: jobID}
		var img, stage, ctr, first int64
		err := r.Scan(&t.Attempt, &img, &stage, &ctr, &first)
		t.Image, t.Stage, t.Container, t.FirstByte = time.Duration(img), time.Duration(stage), time.Duration(ctr), time.Duration(first)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("start times of %s: %w", jobID, err)
	}
	if out == nil {
		out = []store.StartTimes{}
	}
	return out, nil
}
