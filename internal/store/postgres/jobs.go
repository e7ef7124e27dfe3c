package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

const jobColumns = `seq, id, state, file_name, script_size, args, runtime, env,
	memory_bytes, cpus, pids, timeout_seconds, network, max_attempts, retries,
	requirements, log_limit, logs_truncated, attempt, worker_id, leased_at, cancel_requested,
	script_failures, lost_attempts, exit_code, reason, message, failure, created_at, started_at,
	finished_at, stdin_sha256, stdin_size, disk_bytes, batch_id, batch_index, batch_input, owner_id, secret_env, rate_micros, currency`

// jobColumnsOf is jobColumns qualified with a table name, for statements
// that join jobs with another table having columns of the same names.
func jobColumnsOf(table string) string {
	cols := strings.Split(jobColumns, ",")
	for i, c := range cols {
		cols[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// jobColumnsScript is jobColumns followed by what only the worker that
// leases a job needs: the script and the inputs' manifest.
const jobColumnsScript = jobColumns + `, script, ` + jobInputs + ` AS inputs`

// jobInputs is a job's inputs manifest: the one its row holds (a job
// stored before migration 00022, an item of a batch), else the one
// manifests holds by its hash.
const jobInputs = `COALESCE(inputs, (SELECT m.body FROM manifests m WHERE m.sha256 = jobs.inputs_sha256))`

func scanJob(row pgx.Row, withScript bool) (store.Job, error) {
	var (
		j               store.Job
		args, env, reqs []byte
		batchID         *string
	)
	dest := []any{&j.Seq, &j.ID, &j.State, &j.FileName, &j.ScriptSize, &args,
		&j.Runtime, &env, &j.Limits.MemoryBytes, &j.Limits.CPUs, &j.Limits.Pids,
		&j.Limits.TimeoutSeconds, &j.Network, &j.MaxAttempts, &j.Retries, &reqs, &j.LogLimit, &j.LogsTruncated, &j.Attempt,
		&j.WorkerID, &j.LeasedAt, &j.CancelRequested, &j.ScriptFailures, &j.LostAttempts, &j.ExitCode, &j.Reason, &j.Message, &j.Failure,
		&j.CreatedAt, &j.StartedAt, &j.FinishedAt, &j.Stdin.SHA256, &j.Stdin.Size, &j.Limits.DiskBytes,
		&batchID, &j.BatchIndex, &j.BatchInput, &j.Owner, &j.SecretEnv, &j.RateMicros, &j.Currency}
	if withScript {
		dest = append(dest, &j.Script, &j.Inputs)
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
	if batchID != nil {
		j.BatchID = *batchID
	}
	if len(j.Args) == 0 {
		j.Args = nil
	}
	if len(j.Env) == 0 {
		j.Env = nil
	}
	j.CreatedAt = utc(j.CreatedAt)
	j.LeasedAt, j.StartedAt, j.FinishedAt = utcPtr(j.LeasedAt), utcPtr(j.StartedAt), utcPtr(j.FinishedAt)
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

// CreateJob stores a queued job. A job with an idempotency key is stored
// in a transaction that first looks for the key: a job made with it within
// store.IdempotencyWindow comes back instead, and an older one loses the
// key. Two submissions with one key at the same moment meet at the unique
// index: the loser finds the winner's job.
func (s *Store) CreateJob(ctx context.Context, nj store.NewJob) (store.Job, error) {
	if nj.IdempotencyKey == "" {
		js, err := s.CreateJobs(ctx, []store.NewJob{nj})
		if err != nil {
			return store.Job{}, err
		}
		return js[0], nil
	}
	for try := 0; ; try++ {
		var out store.Job
		err := s.tx(ctx, func(tx pgx.Tx) error {
			j, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE idempotency_key = $1 FOR UPDATE`, nj.IdempotencyKey), false)
			switch {
			case err == nil && !j.CreatedAt.Before(nowOr(nj.CreatedAt).Add(-store.IdempotencyWindow)):
				out = j
				return nil
			case err == nil:
				if _, err := tx.Exec(ctx, `UPDATE jobs SET idempotency_key = NULL WHERE id = $1`, j.ID); err != nil {
					return err
				}
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			js, err := createJobs(ctx, tx, []store.NewJob{nj})
			if err == nil {
				out = js[0]
			}
			return err
		})
		if err != nil && try == 0 && pgCode(err) == codeUniqueViolation {
			continue
		}
		if err != nil {
			return store.Job{}, fmt.Errorf("create job %s: %w", nj.ID, err)
		}
		return out, nil
	}
}

// batcher is what *pgxpool.Pool and pgx.Tx have for sending batches.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// createJobsSQL inserts a batch from one array per column, in one
// statement: a thousand jobs cost one round trip.
const createJobsSQL = `INSERT INTO jobs (id, state, file_name, script, script_size, args, runtime, env,
	memory_bytes, cpus, pids, timeout_seconds, network, max_attempts, retries, requirements,
	log_limit, created_at, inputs, stdin_sha256, stdin_size, disk_bytes, owner_id, idempotency_key, secret_env, inputs_sha256)
SELECT id, 'queued', file_name, script, length(script), args::jsonb, runtime, env::jsonb,
	memory_bytes, cpus, pids, timeout_seconds, network, max_attempts, retries, requirements::jsonb,
	log_limit, created_at, inputs, stdin_sha256, stdin_size, disk_bytes, owner_id, idempotency_key, secret_env,
	nullif(inputs_sha256, '')
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[],
	$7::bigint[], $8::double precision[], $9::bigint[], $10::bigint[], $11::boolean[],
	$12::int[], $13::int[], $14::text[], $15::bigint[], $16::timestamptz[],
	$17::text[], $18::text[], $19::bigint[], $20::bigint[], $21::text[], $22::text[], $23::bytea[], $24::text[])
	WITH ORDINALITY AS t(id, file_name, script, args, runtime, env, memory_bytes, cpus, pids,
		timeout_seconds, network, max_attempts, retries, requirements, log_limit, created_at,
		inputs, stdin_sha256, stdin_size, disk_bytes, owner_id, idempotency_key, secret_env, inputs_sha256, n)
ORDER BY n
RETURNING ` + jobColumns

// insertManifestBlobsSQL records the blobs $2 of the manifest $1 unless
// a job with it recorded them before.
const insertManifestBlobsSQL = `INSERT INTO manifest_blobs (manifest_sha256, sha256)
SELECT $1, b FROM unnest($2::text[]) AS b
WHERE NOT EXISTS (SELECT 1 FROM manifest_blobs WHERE manifest_sha256 = $1)
ON CONFLICT DO NOTHING`

// insertManifestSQL stores the manifest $2 under its hash $1 unless it
// is stored: the body of a hash is the same whatever job sends it.
const insertManifestSQL = `INSERT INTO manifests (sha256, body)
SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM manifests WHERE sha256 = $1)
ON CONFLICT DO NOTHING`

// insertRefsSQL records that jobs reference blobs: $1 hashes, $2 job ids.
const insertRefsSQL = `INSERT INTO blob_refs (sha256, job_id)
SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`

// CreateJobs stores queued jobs in one statement.
func (s *Store) CreateJobs(ctx context.Context, njs []store.NewJob) ([]store.Job, error) {
	return createJobs(ctx, s.pool, njs)
}

func createJobs(ctx context.Context, q batcher, njs []store.NewJob) ([]store.Job, error) {
	if len(njs) == 0 {
		return nil, nil
	}
	n := len(njs)
	var (
		ids, files, argsCol, runtimes, envs, reqs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		scripts                                   = make([][]byte, n)
		mem, pids, timeouts, logLimits            = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		cpus                                      = make([]float64, n)
		network                                   = make([]bool, n)
		maxAttempts, retries                      = make([]int32, n), make([]int32, n)
		created                                   = make([]time.Time, n)
		inputs                                    = make([]*string, n)
		stdinHash, inputsHash                     = make([]string, n), make([]string, n)
		stdinSize, disk                           = make([]int64, n), make([]int64, n)
		owners                                    = make([]string, n)
		keys                                      = make([]*string, n)
		secretEnvs                                = make([][]byte, n) // nil: NULL
		refHashes, refJobs                        []string
		manifests                                 = map[string][]string{} // the blobs of each InputsSHA256
		bodies                                    = map[string]string{}   // the manifest of each InputsSHA256 sent with it
	)
	for i, nj := range njs {
		a, e, err := encodeJSON(nj.Args, nj.Env)
		if err != nil {
			return nil, fmt.Errorf("create job %s: %w", nj.ID, err)
		}
		ids[i], files[i], argsCol[i], runtimes[i], envs[i] = nj.ID, nj.FileName, string(a), nj.Runtime, string(e)
		reqs[i] = string(store.EncodeRequirements(nj.Requirements))
		scripts[i] = nj.Script
		if scripts[i] == nil {
			scripts[i] = []byte{}
		}
		mem[i], cpus[i], pids[i], timeouts[i] = nj.Limits.MemoryBytes, nj.Limits.CPUs, nj.Limits.Pids, nj.Limits.TimeoutSeconds
		network[i], maxAttempts[i], retries[i] = nj.Network, int32(nj.MaxAttempts), int32(nj.Retries)
		logLimits[i], created[i] = store.LogLimitOr(nj.LogLimit), nowOr(nj.CreatedAt)
		// A manifest with a hash is stored once, in manifests; the row
		// names it.
		switch {
		case nj.InputsSHA256 != "" && nj.Inputs != nil:
			bodies[nj.InputsSHA256] = string(nj.Inputs)
		case nj.Inputs != nil:
			in := string(nj.Inputs)
			inputs[i] = &in
		}
		stdinHash[i], stdinSize[i], disk[i] = nj.Stdin.SHA256, nj.Stdin.Size, nj.Limits.DiskBytes
		inputsHash[i] = nj.InputsSHA256
		owners[i] = nj.Owner
		if nj.IdempotencyKey != "" {
			keys[i] = &nj.IdempotencyKey
		}
		if len(nj.SecretEnv) > 0 {
			secretEnvs[i] = nj.SecretEnv
		}
		for _, h := range nj.Blobs {
			refHashes, refJobs = append(refHashes, h), append(refJobs, nj.ID)
		}
		if nj.InputsSHA256 != "" && len(nj.InputsBlobs) > 0 {
			manifests[nj.InputsSHA256] = nj.InputsBlobs
		}
	}
	// The jobs and their blob references in one batch: one round trip,
	// one implicit transaction.
	b := &pgx.Batch{}
	for _, m := range slices.Sorted(maps.Keys(bodies)) {
		b.Queue(insertManifestSQL, m, bodies[m])
	}
	b.Queue(createJobsSQL, ids, files, scripts, argsCol, runtimes, envs,
		mem, cpus, pids, timeouts, network, maxAttempts, retries, reqs, logLimits, created,
		inputs, stdinHash, stdinSize, disk, owners, keys, secretEnvs, inputsHash)
	if len(refHashes) > 0 {
		b.Queue(insertRefsSQL, refHashes, refJobs)
	}
	for _, m := range slices.Sorted(maps.Keys(manifests)) {
		b.Queue(insertManifestBlobsSQL, m, manifests[m])
	}
	br := q.SendBatch(ctx, b)
	jobs, err := func() ([]store.Job, error) {
		for range bodies {
			if _, err := br.Exec(); err != nil {
				return nil, err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, false) })
		if err == nil && len(refHashes) > 0 {
			_, err = br.Exec()
		}
		for range manifests {
			if err == nil {
				_, err = br.Exec()
			}
		}
		return jobs, err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if pgCode(err) == codeUniqueViolation {
		return nil, fmt.Errorf("create jobs: a job with one of these ids exists: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("create %d jobs: %w", n, err)
	}
	return jobs, nil
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
	// Planned for its values each time (an unnamed statement, not a
	// cached generic plan), so that a filter left empty drops out and the
	// others walk their own index: jobs_owner_seq, jobs_runtime_seq,
	// jobs_batch_seq, jobs_unsucceeded_seq, or jobs_seq_key for none.
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE ($1::bigint = 0 OR seq < $1)
		  AND ($2::text[] IS NULL OR state = ANY ($2))
		  AND (NOT $4 OR owner_id = $5)
		  AND ($6::text = '' OR runtime = $6)
		  AND ($7::text = '' OR batch_id = $7)
		ORDER BY seq DESC LIMIT $3`, pgx.QueryExecModeCacheDescribe, p.BeforeSeq, states, limit, p.OwnerSet, p.Owner, p.Runtime, p.BatchID)
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

// ListAttempts returns a job's attempts, oldest first: the rows of
// job_attempts and the latest attempt when the job row is its record (see
// store.Attempts).
func (s *Store) ListAttempts(ctx context.Context, jobID string) ([]store.Attempt, error) {
	var out []store.Attempt
	// One snapshot for both reads: an attempt recorded apart between them
	// would otherwise be missed.
	snapshot := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT job_id, number, worker_id, state,
			exit_code, reason, message, leased_at, started_at, finished_at, rate_micros, currency
			FROM job_attempts WHERE job_id = $1 ORDER BY number`, jobID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Attempt, error) {
			var a store.Attempt
			err := r.Scan(&a.JobID, &a.Number, &a.WorkerID, &a.State, &a.ExitCode,
				&a.Reason, &a.Message, &a.LeasedAt, &a.StartedAt, &a.FinishedAt, &a.RateMicros, &a.Currency)
			a.LeasedAt = utc(a.LeasedAt)
			a.StartedAt, a.FinishedAt = utcPtr(a.StartedAt), utcPtr(a.FinishedAt)
			return a, err
		})
		if err != nil {
			return err
		}
		j, err := getJob(ctx, tx, jobID, "")
		if errors.Is(err, store.ErrNotFound) {
			out = nil // an unknown job has no attempts
			return nil
		}
		out = store.Attempts(j, out)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", jobID, err)
	}
	return out, nil
}

// RequestCancel cancels a queued job at once and flags an active one, as
// store.DecideCancel decides.
func (s *Store) RequestCancel(ctx context.Context, id string, now time.Time) (store.Job, error) {
	now = nowOr(now)
	j, err := s.decideLocked(ctx, id, func(cur store.Job) (store.Change, error) {
		return store.DecideCancel(cur, now)
	})
	if errors.Is(err, store.ErrJobFinished) {
		return j, fmt.Errorf("cancel job %s: %w", id, err)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return j, nil
}

// JobFiles returns a job's inputs, outputs and stdin.
func (s *Store) JobFiles(ctx context.Context, id string) (store.JobFiles, error) {
	var (
		f                        store.JobFiles
		inputs, outputs, skipped *string
	)
	var batchID *string
	err := s.pool.QueryRow(ctx, `SELECT `+jobInputs+`, outputs, outputs_skipped, stdin_sha256, stdin_size, batch_id
		FROM jobs WHERE id = $1`, id).Scan(&inputs, &outputs, &skipped, &f.Stdin.SHA256, &f.Stdin.Size, &batchID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.JobFiles{}, fmt.Errorf("files of job %s: %w", id, err)
	}
	f.Inputs, f.Outputs, f.OutputsSkipped = bytesOf(inputs), bytesOf(outputs), bytesOf(skipped)
	if batchID != nil {
		f.BatchID = *batchID
	}
	return f, nil
}

func bytesOf(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

// BlobsReferenced returns which of hashes some job references.
func (s *Store) BlobsReferenced(ctx context.Context, hashes []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT sha256 FROM blob_refs WHERE sha256 = ANY ($1)
		UNION SELECT sha256 FROM manifest_blobs WHERE sha256 = ANY ($1)`, hashes)
	if err != nil {
		return nil, fmt.Errorf("blobs referenced: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("blobs referenced: %w", err)
	}
	out := make(map[string]bool, len(got))
	for _, h := range got {
		out[h] = true
	}
	return out, nil
}

// InputsByHash returns the inputs of a job of owner whose manifest's
// SHA-256 is hash.
func (s *Store) InputsByHash(ctx context.Context, owner, hash string) ([]byte, error) {
	var inputs string
	err := s.pool.QueryRow(ctx, `SELECT m.body FROM manifests m WHERE m.sha256 = $1
		AND EXISTS (SELECT 1 FROM jobs j WHERE j.inputs_sha256 = $1 AND j.owner_id = $2)`, hash, owner).Scan(&inputs)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("inputs %.12s… of %s: %w", hash, owner, err)
	}
	return []byte(inputs), nil
}
