package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

const jobColumns = `seq, id, state, file_name, script_size, args, runtime, env,
	memory_bytes, cpus, pids, timeout_seconds, network, max_attempts, retries,
	requirements, log_limit, logs_truncated, attempt, worker_id, leased_at, cancel_requested,
	script_failures, lost_attempts, exit_code, reason, message, failure, created_at, started_at,
	finished_at, stdin_sha256, stdin_size, disk_bytes, batch_id, batch_index, batch_input, owner_id, secret_env, rate_micros, currency`

// jobColumnsScript is jobColumns followed by what only the worker that
// leases a job needs: the script and the inputs' manifest.
const jobColumnsScript = jobColumns + `, script, ` + jobInputs

// jobInputs is a job's inputs manifest: the one its row holds (a job
// stored before migration 00022, an item of a batch), else the one
// manifests holds by its hash.
const jobInputs = `COALESCE(inputs, (SELECT m.body FROM manifests m WHERE m.sha256 = jobs.inputs_sha256))`

type scanner interface{ Scan(dest ...any) error }

func scanJob(sc scanner, withScript bool) (store.Job, error) {
	var (
		j                         store.Job
		args, env, reqs           string
		exit                      sql.NullInt64
		created                   int64
		leased, started, finished sql.NullInt64
		network, cancelRequested  bool
		truncated                 bool
		batchID                   sql.NullString
	)
	dest := []any{&j.Seq, &j.ID, &j.State, &j.FileName, &j.ScriptSize, &args,
		&j.Runtime, &env, &j.Limits.MemoryBytes, &j.Limits.CPUs, &j.Limits.Pids,
		&j.Limits.TimeoutSeconds, &network, &j.MaxAttempts, &j.Retries, &reqs, &j.LogLimit, &truncated, &j.Attempt,
		&j.WorkerID, &leased, &cancelRequested, &j.ScriptFailures, &j.LostAttempts, &exit, &j.Reason, &j.Message, &j.Failure, &created,
		&started, &finished, &j.Stdin.SHA256, &j.Stdin.Size, &j.Limits.DiskBytes,
		&batchID, &j.BatchIndex, &j.BatchInput, &j.Owner, &j.SecretEnv, &j.RateMicros, &j.Currency}
	var inputs sql.NullString
	if withScript {
		dest = append(dest, &j.Script, &inputs)
	}
	if err := sc.Scan(dest...); err != nil {
		return store.Job{}, err
	}
	if err := decodeJSON(args, env, &j); err != nil {
		return store.Job{}, err
	}
	if err := store.DecodeRequirements([]byte(reqs), &j); err != nil {
		return store.Job{}, err
	}
	j.Network, j.CancelRequested, j.LogsTruncated = network, cancelRequested, truncated
	j.BatchID = batchID.String
	j.ExitCode = fromNullInt(exit)
	j.CreatedAt = fromNanos(created)
	j.LeasedAt = fromNullNanos(leased)
	j.StartedAt = fromNullNanos(started)
	j.FinishedAt = fromNullNanos(finished)
	if withScript && j.Script == nil {
		j.Script = []byte{}
	}
	if inputs.Valid {
		j.Inputs = []byte(inputs.String)
	}
	return j, nil
}

// encodeJSON encodes args and env; empty ones are stored as [] and {}.
func encodeJSON(args []string, env map[string]string) (string, string, error) {
	if args == nil {
		args = []string{}
	}
	if env == nil {
		env = map[string]string{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		return "", "", fmt.Errorf("encode args: %w", err)
	}
	e, err := json.Marshal(env)
	if err != nil {
		return "", "", fmt.Errorf("encode env: %w", err)
	}
	return string(a), string(e), nil
}

// decodeJSON fills j.Args and j.Env, leaving them nil when empty.
func decodeJSON(args, env string, j *store.Job) error {
	if err := json.Unmarshal([]byte(args), &j.Args); err != nil {
		return fmt.Errorf("decode args: %w", err)
	}
	if err := json.Unmarshal([]byte(env), &j.Env); err != nil {
		return fmt.Errorf("decode env: %w", err)
	}
	if len(j.Args) == 0 {
		j.Args = nil
	}
	if len(j.Env) == 0 {
		j.Env = nil
	}
	return nil
}

func getJob(ctx context.Context, q querier, id string, withScript bool) (store.Job, error) {
	cols := jobColumns
	if withScript {
		cols = jobColumnsScript
	}
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+cols+` FROM jobs WHERE id = ?`, id), withScript)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, store.ErrNotFound
	}
	return j, err
}

// CreateJob stores a queued job. A job with an idempotency key is made
// only if no job made with the key within store.IdempotencyWindow is
// stored: that one comes back instead, and an older one loses the key (in
// the one write transaction, so two submissions cannot both make one).
func (s *Store) CreateJob(ctx context.Context, nj store.NewJob) (store.Job, error) {
	js, err := s.CreateJobs(ctx, []store.NewJob{nj})
	if err != nil {
		return store.Job{}, err
	}
	return js[0], nil
}

// CreateJobs stores queued jobs in one transaction.
func (s *Store) CreateJobs(ctx context.Context, njs []store.NewJob) ([]store.Job, error) {
	if len(njs) == 0 {
		return nil, nil
	}
	out := make([]store.Job, 0, len(njs))
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = out[:0] // a retried transaction starts over
		if len(njs) == 1 && njs[0].IdempotencyKey != "" {
			j, found, err := byIdempotencyKey(ctx, tx, njs[0])
			if err != nil || found {
				out = append(out, j)
				return err
			}
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO jobs (id, state, file_name, script,
			script_size, args, runtime, env, memory_bytes, cpus, pids, timeout_seconds,
			network, max_attempts, retries, requirements, log_limit, created_at,
			inputs, stdin_sha256, stdin_size, disk_bytes, owner_id, idempotency_key, secret_env, inputs_sha256)
			VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, nullif(?, ''), ?, nullif(?, ''))`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, nj := range njs {
			args, env, err := encodeJSON(nj.Args, nj.Env)
			if err != nil {
				return fmt.Errorf("job %s: %w", nj.ID, err)
			}
			script := nj.Script
			if script == nil {
				script = []byte{}
			}
			// A manifest with a hash is stored once, in manifests; the
			// row names it.
			rowInputs := nj.Inputs
			if nj.InputsSHA256 != "" {
				if nj.Inputs != nil {
					if err := insertManifest(ctx, tx, nj.InputsSHA256, nj.Inputs); err != nil {
						return fmt.Errorf("job %s: %w", nj.ID, err)
					}
				}
				rowInputs = nil
			}
			if _, err := stmt.ExecContext(ctx, nj.ID, nj.FileName, script, len(script), args, nj.Runtime, env,
				nj.Limits.MemoryBytes, nj.Limits.CPUs, nj.Limits.Pids,
				nj.Limits.TimeoutSeconds, nj.Network, nj.MaxAttempts, nj.Retries,
				string(store.EncodeRequirements(nj.Requirements)), store.LogLimitOr(nj.LogLimit), nanos(nowOr(nj.CreatedAt)),
				nullText(rowInputs), nj.Stdin.SHA256, nj.Stdin.Size, nj.Limits.DiskBytes, nj.Owner, nj.IdempotencyKey, nullBlob(nj.SecretEnv), nj.InputsSHA256); err != nil {
				return fmt.Errorf("job %s: %w", nj.ID, err)
			}
			if err := insertRefs(ctx, tx, nj.ID, nj.Blobs); err != nil {
				return fmt.Errorf("job %s: %w", nj.ID, err)
			}
			if err := insertManifestBlobs(ctx, tx, nj.InputsSHA256, nj.InputsBlobs); err != nil {
				return fmt.Errorf("job %s: %w", nj.ID, err)
			}
			j, err := getJob(ctx, tx, nj.ID, false)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create %d jobs: %w", len(njs), err)
	}
	return out, nil
}

// byIdempotencyKey finds the job made with nj's key within the window;
// an older one loses its key, for nj to take.
func byIdempotencyKey(ctx context.Context, tx *sql.Tx, nj store.NewJob) (store.Job, bool, error) {
	j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE idempotency_key = ?`, nj.IdempotencyKey), false)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Job{}, false, nil
	case err != nil:
		return store.Job{}, false, err
	case !j.CreatedAt.Before(nowOr(nj.CreatedAt).Add(-store.IdempotencyWindow)):
		return j, true, nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE jobs SET idempotency_key = NULL WHERE id = ?`, j.ID)
	return store.Job{}, false, err
}

// GetJob returns a job without its script, or store.ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id string) (store.Job, error) {
	j, err := getJob(ctx, s.r, id, false)
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
	states, err := json.Marshal(p.States)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	// SQLite plans a statement once, whatever its values: a filter written
	// "(? = '' OR column = ?)" can never use its index. The statement is
	// picked by its most selective filter, which then walks its own index.
	query := listJobsAll
	switch {
	case p.BatchID != "":
		query = listJobsByBatch
	case p.Runtime != "":
		query = listJobsByRuntime
	case p.OwnerSet:
		query = listJobsByOwner
	}
	rows, err := s.r.QueryContext(ctx, query, p.BeforeSeq, string(states), limit, p.OwnerSet, p.Owner, p.Runtime, p.BatchID)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var jobs []store.Job
	for rows.Next() {
		j, err := scanJob(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// queryJobs runs a query of jobColumns and returns its rows.
func queryJobs(ctx context.Context, q querier, query string, args ...any) ([]store.Job, error) {
	return scanJobs(ctx, q, false, query, args...)
}

// queryJobsScript is queryJobs for a query of jobColumnsScript.
func queryJobsScript(ctx context.Context, q querier, query string, args ...any) ([]store.Job, error) {
	return scanJobs(ctx, q, true, query, args...)
}

func scanJobs(ctx context.Context, q querier, withScript bool, query string, args ...any) ([]store.Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs []store.Job
	for rows.Next() {
		j, err := scanJob(rows, withScript)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// ListAttempts returns a job's attempts, oldest first: the rows of
// job_attempts and the latest attempt when the job row is its record (see
// store.Attempts).
func (s *Store) ListAttempts(ctx context.Context, jobID string) ([]store.Attempt, error) {
	out, err := s.listAttempts(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", jobID, err)
	}
	return out, nil
}

func (s *Store) listAttempts(ctx context.Context, jobID string) ([]store.Attempt, error) {
	// One read transaction: one snapshot for both reads.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rows, err := tx.QueryContext(ctx, `SELECT job_id, number, worker_id, state,
		exit_code, reason, message, leased_at, started_at, finished_at, rate_micros, currency
		FROM job_attempts WHERE job_id = ? ORDER BY number`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Attempt
	for rows.Next() {
		var (
			a                 store.Attempt
			exit              sql.NullInt64
			leased            int64
			started, finished sql.NullInt64
		)
		if err := rows.Scan(&a.JobID, &a.Number, &a.WorkerID, &a.State, &exit,
			&a.Reason, &a.Message, &leased, &started, &finished, &a.RateMicros, &a.Currency); err != nil {
			return nil, err
		}
		a.ExitCode = fromNullInt(exit)
		a.LeasedAt = fromNanos(leased)
		a.StartedAt = fromNullNanos(started)
		a.FinishedAt = fromNullNanos(finished)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	j, err := getJob(ctx, tx, jobID, false)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return store.Attempts(j, out), nil
}

// RequestCancel cancels a queued job at once and flags an active one, as
// store.DecideCancel decides.
func (s *Store) RequestCancel(ctx context.Context, id string, now time.Time) (store.Job, error) {
	now = nowOr(now)
	j, err := s.decideWrite(ctx, id, func(cur store.Job) (store.Change, error) {
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

// insertRefs records that job id references blobs.
// insertRefs records that job id references blobs, in one statement (a
// statement per blob cost 20 µs each: 90 ms for a project of 4,000 files).
func insertRefs(ctx context.Context, tx *sql.Tx, id string, blobs []string) error {
	if len(blobs) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO blob_refs (sha256, job_id)
		SELECT value, ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING`, jsonList(blobs), id)
	return err
}

// insertManifestBlobs records the blobs of the manifest named manifest,
// unless a job with it recorded them before.
func insertManifestBlobs(ctx context.Context, tx *sql.Tx, manifest string, blobs []string) error {
	if manifest == "" || len(blobs) == 0 {
		return nil
	}
	var known bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM manifest_blobs WHERE manifest_sha256 = ?)`,
		manifest).Scan(&known); err != nil || known {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO manifest_blobs (manifest_sha256, sha256)
		SELECT ?1, value FROM json_each(?2) WHERE true ON CONFLICT DO NOTHING`, manifest, jsonList(blobs))
	return err
}

// insertManifest stores a manifest under its hash, unless it is stored:
// the body of a hash is the same whatever job sends it.
func insertManifest(ctx context.Context, tx *sql.Tx, hash string, body []byte) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM manifests WHERE sha256 = ?`, hash).Scan(&one)
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO manifests (sha256, body) VALUES (?, ?)`, hash, string(body))
	return err
}

// InputsByHash returns the inputs of a job of owner whose manifest's
// SHA-256 is hash.
func (s *Store) InputsByHash(ctx context.Context, owner, hash string) ([]byte, error) {
	var inputs string
	err := s.r.QueryRowContext(ctx, `SELECT m.body FROM manifests m WHERE m.sha256 = ?1
		AND EXISTS (SELECT 1 FROM jobs j WHERE j.inputs_sha256 = ?1 AND j.owner_id = ?2)`, hash, owner).Scan(&inputs)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("inputs %.12s… of %s: %w", hash, owner, err)
	}
	return []byte(inputs), nil
}

// JobFiles returns a job's inputs, outputs and stdin.
func (s *Store) JobFiles(ctx context.Context, id string) (store.JobFiles, error) {
	var (
		f                        store.JobFiles
		inputs, outputs, skipped sql.NullString
		batchID                  sql.NullString
	)
	err := s.r.QueryRowContext(ctx, `SELECT `+jobInputs+`, outputs, outputs_skipped, stdin_sha256, stdin_size, batch_id
		FROM jobs WHERE id = ?`, id).Scan(&inputs, &outputs, &skipped, &f.Stdin.SHA256, &f.Stdin.Size, &batchID)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.JobFiles{}, fmt.Errorf("files of job %s: %w", id, err)
	}
	f.BatchID = batchID.String
	for _, p := range []struct {
		from sql.NullString
		to   *[]byte
	}{{inputs, &f.Inputs}, {outputs, &f.Outputs}, {skipped, &f.OutputsSkipped}} {
		if p.from.Valid {
			*p.to = []byte(p.from.String)
		}
	}
	return f, nil
}

// BlobsReferenced returns which of hashes some job references.
func (s *Store) BlobsReferenced(ctx context.Context, hashes []string) (map[string]bool, error) {
	list, err := json.Marshal(hashes)
	if err != nil {
		return nil, fmt.Errorf("blobs referenced: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT sha256 FROM blob_refs WHERE sha256 IN (SELECT value FROM json_each(?1))
		UNION SELECT sha256 FROM manifest_blobs WHERE sha256 IN (SELECT value FROM json_each(?1))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("blobs referenced: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("blobs referenced: %w", err)
		}
		out[h] = true
	}
	return out, rows.Err()
}

// nullText is b as a TEXT parameter, NULL for nil.
func nullText(b []byte) sql.NullString {
	return sql.NullString{String: string(b), Valid: b != nil}
}

// nullBlob stores nil or empty bytes as NULL.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// The statements of ListJobs, one per index a page walks.
const (
	listJobsAll = `SELECT ` + jobColumns + ` FROM jobs
		WHERE (?1 = 0 OR seq < ?1)
		  AND (?2 = 'null' OR ?2 = '[]' OR state IN (SELECT value FROM json_each(?2)))
		  AND (NOT ?4 OR owner_id = ?5) AND (?6 = '' OR runtime = ?6) AND (?7 = '' OR batch_id = ?7)
		ORDER BY seq DESC LIMIT ?3`
	listJobsByBatch = `SELECT ` + jobColumns + ` FROM jobs INDEXED BY jobs_batch_seq
		WHERE batch_id = ?7 AND (?1 = 0 OR seq < ?1)
		  AND (?2 = 'null' OR ?2 = '[]' OR state IN (SELECT value FROM json_each(?2)))
		  AND (NOT ?4 OR owner_id = ?5) AND (?6 = '' OR runtime = ?6)
		ORDER BY seq DESC LIMIT ?3`
	listJobsByRuntime = `SELECT ` + jobColumns + ` FROM jobs INDEXED BY jobs_runtime_seq
		WHERE runtime = ?6 AND (?1 = 0 OR seq < ?1)
		  AND (?2 = 'null' OR ?2 = '[]' OR state IN (SELECT value FROM json_each(?2)))
		  AND (NOT ?4 OR owner_id = ?5) AND (?7 = '' OR batch_id = ?7)
		ORDER BY seq DESC LIMIT ?3`
	listJobsByOwner = `SELECT ` + jobColumns + ` FROM jobs INDEXED BY jobs_owner_seq
		WHERE owner_id = ?5 AND ?4 AND (?1 = 0 OR seq < ?1)
		  AND (?2 = 'null' OR ?2 = '[]' OR state IN (SELECT value FROM json_each(?2)))
		  AND (?6 = '' OR runtime = ?6) AND (?7 = '' OR batch_id = ?7)
		ORDER BY seq DESC LIMIT ?3`
)
