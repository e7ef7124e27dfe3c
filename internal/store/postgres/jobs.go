package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

const jobColumns = `seq, id, state, file_name, script_size, args, runtime, env,
	memory_bytes, cpus, pids, timeout_seconds, network, max_attempts, retries,
	requirements, log_limit, logs_truncated, attempt, worker_id, cancel_requested, exit_code,
	reason, message, failure, created_at, started_at, finished_at`

// jobColumnsScript is jobColumns followed by the script.
const jobColumnsScript = jobColumns + `, script`

func scanJob(row pgx.Row, withScript bool) (store.Job, error) {
	var (
		j               store.Job
		args, env, reqs []byte
	)
	dest := []any{&j.Seq, &j.ID, &j.State, &j.FileName, &j.ScriptSize, &args,
		&j.Runtime, &env, &j.Limits.MemoryBytes, &j.Limits.CPUs, &j.Limits.Pids,
		&j.Limits.TimeoutSeconds, &j.Network, &j.MaxAttempts, &j.Retries, &reqs, &j.LogLimit, &j.LogsTruncated, &j.Attempt,
		&j.WorkerID, &j.CancelRequested, &j.ExitCode, &j.Reason, &j.Message, &j.Failure,
		&j.CreatedAt, &j.StartedAt, &j.FinishedAt}
	if withScript {
		dest = append(dest, &j.Script)
	}
	if err := row.Scan(dest...); err != nil {
		return store.Job{}, err
	}
	if err := json.Unmarshal(args, &j.Args); err != nil {
		return store.Job{}, fmt.Errorf("decode args: %w", err)
	}
	if err := json.Unmarshal(env, &j.Env); err != nil {
		return store.Job{}, fmt.Errorf("decode env: %w", err)
	}
	if err := store.DecodeRequirements(reqs, &j); err != nil {
		return store.Job{}, err
	}
	if len(j.Args) == 0 {
		j.Args = nil
	}
	if len(j.Env) == 0 {
		j.Env = nil
	}
	j.CreatedAt = utc(j.CreatedAt)
	j.StartedAt, j.FinishedAt = utcPtr(j.StartedAt), utcPtr(j.FinishedAt)
	if withScript && j.Script == nil {
		j.Script = []byte{}
	}
	return j, nil
}

// encodeJSON encodes args and env; empty ones are stored as [] and {}.
func encodeJSON(args []string, env map[string]string) (json.RawMessage, json.RawMessage, error) {
	if args == nil {
		args = []string{}
	}
	if env == nil {
		env = map[string]string{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		return nil, nil, fmt.Errorf("encode args: %w", err)
	}
	e, err := json.Marshal(env)
	if err != nil {
		return nil, nil, fmt.Errorf("encode env: %w", err)
	}
	return a, e, nil
}

func getJob(ctx context.Context, q querier, id string, lock string) (store.Job, error) {
	j, err := scanJob(q.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 `+lock, id), false)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, store.ErrNotFound
	}
	return j, err
}

// CreateJob stores a queued job.
func (s *Store) CreateJob(ctx context.Context, nj store.NewJob) (store.Job, error) {
	args, env, err := encodeJSON(nj.Args, nj.Env)
	if err != nil {
		return store.Job{}, fmt.Errorf("create job %s: %w", nj.ID, err)
	}
	script := nj.Script
	if script == nil {
		script = []byte{}
	}
	j, err := scanJob(s.pool.QueryRow(ctx, `INSERT INTO jobs (id, state, file_name,
		script, script_size, args, runtime, env, memory_bytes, cpus, pids,
		timeout_seconds, network, max_attempts, retries, requirements, log_limit, created_at)
		VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		RETURNING `+jobColumns,
		nj.ID, nj.FileName, script, len(script), args, nj.Runtime, env,
		nj.Limits.MemoryBytes, nj.Limits.CPUs, nj.Limits.Pids,
		nj.Limits.TimeoutSeconds, nj.Network, nj.MaxAttempts, nj.Retries,
		store.EncodeRequirements(nj.Requirements), store.LogLimitOr(nj.LogLimit), nowOr(nj.CreatedAt)), false)
	if pgCode(err) == codeUniqueViolation {
		return store.Job{}, fmt.Errorf("create job %s: a job with this id exists: %w", nj.ID, err)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("create job %s: %w", nj.ID, err)
	}
	return j, nil
}

// GetJob returns a job without its script, or store.ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id string) (store.Job, error) {
	j, err := getJob(ctx, s.pool, id, "")
	if err != nil {
		return store.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, nil
}

// ListJobs returns jobs newest first.
func (s *Store) ListJobs(ctx context.Context, p store.ListJobsParams) ([]store.Job, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	var states []string
	for _, st := range p.States {
		states = append(states, string(st))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE ($1::bigint = 0 OR seq < $1)
		  AND ($2::text[] IS NULL OR state = ANY ($2))
		ORDER BY seq DESC LIMIT $3`, p.BeforeSeq, states, limit)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) {
		return scanJob(r, false)
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// ListAttempts returns a job's attempts, oldest first.
func (s *Store) ListAttempts(ctx context.Context, jobID string) ([]store.Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT job_id, number, worker_id, state,
		exit_code, reason, message, leased_at, started_at, finished_at
		FROM job_attempts WHERE job_id = $1 ORDER BY number`, jobID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", jobID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Attempt, error) {
		var a store.Attempt
		err := r.Scan(&a.JobID, &a.Number, &a.WorkerID, &a.State, &a.ExitCode,
			&a.Reason, &a.Message, &a.LeasedAt, &a.StartedAt, &a.FinishedAt)
		a.LeasedAt = utc(a.LeasedAt)
		a.StartedAt, a.FinishedAt = utcPtr(a.StartedAt), utcPtr(a.FinishedAt)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", jobID, err)
	}
	return out, nil
}

// RequestCancel cancels a queued job at once and flags an active one.
func (s *Store) RequestCancel(ctx context.Context, id string, now time.Time) (store.Job, error) {
	var (
		j        store.Job
		finished bool
	)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		cur, err := getJob(ctx, tx, id, "FOR UPDATE")
		if err != nil {
			return err
		}
		switch {
		case cur.State == store.StateQueued:
			j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET state = 'canceled',
				reason = 'canceled', message = 'canceled before it started',
				finished_at = $2 WHERE id = $1 RETURNING `+jobColumns, id, nowOr(now)), false)
		case cur.State.Terminal():
			j, finished = cur, true
		default:
			j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET cancel_requested = true
				WHERE id = $1 RETURNING `+jobColumns, id), false)
		}
		return err
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("cancel job %s: %w", id, err)
	}
	if finished {
		return j, fmt.Errorf("cancel job %s: %w", id, store.ErrJobFinished)
	}
	return j, nil
}
