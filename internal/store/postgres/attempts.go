package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/store"
)

// claimSQL leases jobs in one statement. SKIP LOCKED lets concurrent
// claimers pass over each other's rows instead of waiting, and the row lock
// (with READ COMMITTED re-checking state = 'queued' on the locked row) means
// no job is handed out twice. The new attempt lives in the job row (attempt,
// worker_id, leased_at) until it ends. The Fits filter sits in the locking
// select, so a job that does not fit is neither locked nor counted against
// the limit.
//
// Items of a batch are leased only within the batch's parallelism. The
// select passes over the items of a batch that is full as the snapshot
// saw it; room then locks the rows of the batches picked (in id order,
// after the job rows, as every transaction does) and reads their counts
// as the last committed change left them, so that of two claimers the
// second sees the first's items; granted keeps, of each batch's items
// picked, as many as store.BatchRoom allows, and counted moves them from
// queued to running in the same statement. A picked item left over stays
// queued (and unlocked once the statement ends); ClaimJobs then claims
// again for what is left of Max.
//
// The jobs of an owner with a running limit ($14 owners, $15 their caps)
// are leased only within it: busy counts each such owner's leased and
// running jobs (jobs_owner_active), the select passes over owners at
// their cap, and granted keeps as many of an owner's picked jobs as
// their room allows. The count is the statement's snapshot, so two
// claims at the same instant may each fill the same room: an owner may
// briefly run up to one claim's worth over the cap per concurrent
// claimer, never without bound.
//
// leased writes each job's rate as store.Rate has it for the claiming
// worker's pricing ($16 price, $17 currency, $18 CPUs, $19 memory, $20
// slots) and the job's limits as claimed (defaults filled).
//
// A claim of a worker whose pool has a budget passes $21, what is left of
// it (else -1): the select passes over the jobs whose worst case, their
// time limit at their rate (store.HoldMicros), is more; one with no time
// limit has none and is passed over too, unless it is free.
const claimSQL = `
WITH busy AS (
    SELECT cap_owner AS busy_owner, cap - (SELECT count(*) FROM jobs a
        WHERE a.owner_id = cap_owner AND a.state IN ('leased', 'running')) AS busy_room
    FROM unnest($14::text[], $15::int[]) AS c(cap_owner, cap)
), picked AS (
    SELECT id AS picked_id, batch_id AS picked_batch, seq AS picked_seq, owner_id AS picked_owner FROM jobs
    WHERE state = 'queued'
      AND ($4::bigint = 0 OR memory_bytes <= $4)
      AND ($5::double precision = 0 OR cpus <= $5)
      AND ($6::bigint = 0 OR pids <= $6)
      AND ($7::bigint = 0 OR timeout_seconds <= $7)
      AND ($12::bigint = 0 OR disk_bytes <= $12)
      AND (batch_id IS NULL OR NOT EXISTS (SELECT 1 FROM batches b
          WHERE b.id = jobs.batch_id AND b.parallelism > 0 AND b.n_running >= b.parallelism))
      AND NOT EXISTS (SELECT 1 FROM busy WHERE busy_owner = jobs.owner_id AND busy_room <= 0)
      AND ($21::bigint < 0 OR ` + rateSQL + ` = 0 OR (CASE WHEN timeout_seconds = 0 THEN $11 ELSE timeout_seconds END) > 0
          AND (` + rateSQL + `)::numeric * (CASE WHEN timeout_seconds = 0 THEN $11 ELSE timeout_seconds END) <= $21::numeric * 3600)
    ORDER BY seq
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), room AS (
    SELECT id AS room_batch, parallelism AS room_cap, n_running AS room_running FROM batches
    WHERE id IN (SELECT picked_batch FROM picked)
    ORDER BY id
    FOR UPDATE
), batch_granted AS (
    SELECT picked_id, picked_batch, picked_owner, picked_seq FROM (
        SELECT picked_id, picked_batch, picked_owner, picked_seq,
            row_number() OVER (PARTITION BY picked_batch ORDER BY picked_seq) AS rn
        FROM picked) p
    LEFT JOIN room ON room_batch = picked_batch
    WHERE picked_batch IS NULL OR room_cap <= 0 OR rn <= room_cap - room_running
), granted AS (
    SELECT picked_id, picked_batch FROM (
        SELECT picked_id, picked_batch, picked_owner,
            row_number() OVER (PARTITION BY picked_owner ORDER BY picked_seq) AS orn
        FROM batch_granted) g
    LEFT JOIN busy ON busy_owner = picked_owner
    WHERE busy_owner IS NULL OR orn <= busy_room
), counted AS (
    UPDATE batches SET n_queued = n_queued - g.n, n_running = n_running + g.n
    FROM (SELECT picked_batch AS g_batch, count(*)::int AS n FROM granted
          WHERE picked_batch IS NOT NULL GROUP BY picked_batch) g
    WHERE id = g.g_batch
), leased AS (
    UPDATE jobs SET state = 'leased', attempt = attempt + 1, worker_id = $1, leased_at = $3,
        memory_bytes = CASE WHEN memory_bytes = 0 THEN $8 ELSE memory_bytes END,
        cpus = CASE WHEN cpus = 0 THEN $9 ELSE cpus END,
        pids = CASE WHEN pids = 0 THEN $10 ELSE pids END,
        timeout_seconds = CASE WHEN timeout_seconds = 0 THEN $11 ELSE timeout_seconds END,
        disk_bytes = CASE WHEN disk_bytes = 0 THEN $13 ELSE disk_bytes END,
        rate_micros = ` + rateSQL + `,
        currency = $17
    FROM granted WHERE id = picked_id
    RETURNING ` + jobColumnsScript + `
)
SELECT ` + jobColumns + `, script, inputs FROM leased ORDER BY seq`

// rateSQL is a queued job's rate as store.Rate has it for the claiming
// worker's pricing, its limits filled from the defaults ($8 memory, $9
// CPUs).
const rateSQL = `CASE WHEN $16::bigint <= 0 THEN 0 ELSE floor($16::bigint * least(1.0, greatest(
            CASE WHEN $18::float8 > 0 AND (CASE WHEN cpus = 0 THEN $9 ELSE cpus END) > 0
                THEN (CASE WHEN cpus = 0 THEN $9 ELSE cpus END) / $18 ELSE 1.0 / greatest($20::int, 1) END,
            CASE WHEN $19::bigint > 0 AND (CASE WHEN memory_bytes = 0 THEN $8 ELSE memory_bytes END) > 0
                THEN (CASE WHEN memory_bytes = 0 THEN $8 ELSE memory_bytes END)::float8 / $19 ELSE 1.0 / greatest($20::int, 1) END
        )) + 0.5)::bigint END`

// ClaimJobs leases up to p.Max queued jobs that fit p.Fits, oldest first, to
// p.WorkerID, filling their unset limits from p.Defaults. The queue is read
// only by walking jobs_queued_seq from its front (pinnedPlan): left to the
// planner, statistics gathered while few jobs were queued (as after a quiet
// spell, before a burst of submissions) make a bitmap scan of every queued
// job and a sort look cheaper; with 20,000 queued that took 20-35 ms per
// claim instead of well under one.
func (s *Store) ClaimJobs(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	if p.Pool != "" {
		jobs, budgeted, err := s.claimBudgeted(ctx, p)
		if budgeted || err != nil {
			return jobs, err
		}
	}
	var jobs []store.Job
	owners, caps := store.CapArrays(p.OwnerCap)
	// A claim that leased items of a batch, or jobs of an owner with a
	// running limit, may have held others back (the batch's parallelism
	// or the owner's room reached) where jobs behind them would fit: it
	// claims again for the rest, and the batches and owners it filled are
	// passed over then. A claim of other jobs is one statement, as before.
	for range maxClaimRounds {
		got, err := pinnedPlan(ctx, s.pool, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, true) },
			claimSQL, p.WorkerID, p.Max-len(jobs), nowOr(p.Now),
			p.Fits.MemoryBytes, p.Fits.CPUs, p.Fits.Pids, p.Fits.TimeoutSeconds,
			p.Defaults.MemoryBytes, p.Defaults.CPUs, p.Defaults.Pids, p.Defaults.TimeoutSeconds,
			p.Fits.DiskBytes, p.Defaults.DiskBytes, owners, caps,
			p.Pricing.PriceMicros, p.Pricing.Currency, p.Pricing.CPUs, p.Pricing.MemoryBytes, p.Slots, int64(-1))
		if err != nil {
			if len(jobs) > 0 {
				break // those are leased: hand them out; the next claim retries
			}
			return nil, fmt.Errorf("claim jobs for worker %s: %w", p.WorkerID, err)
		}
		jobs = append(jobs, got...)
		held := slices.ContainsFunc(got, func(j store.Job) bool { _, ok := p.OwnerCap[j.Owner]; return ok })
		if len(got) == 0 || len(jobs) >= p.Max || !held && !slices.ContainsFunc(got, func(j store.Job) bool { return j.BatchID != "" }) {
			break
		}
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}

// claimBudgeted is a claim of a worker of pool p.Pool when the pool has a
// budget (budgeted false when it has none): in one transaction holding
// the pool_budgets row locked, so that the claims of the pool's workers
// pass one at a time, it reads what is left of the budget this month and
// leases one job at a time whose worst case fits it, holding it
// (pool_holds), up to p.Max.
func (s *Store) claimBudgeted(ctx context.Context, p store.ClaimParams) (jobs []store.Job, budgeted bool, err error) {
	owners, caps := store.CapArrays(p.OwnerCap)
	now := nowOr(p.Now)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var micros int64
		var currency string
		err := tx.QueryRow(ctx, `SELECT micros, currency FROM pool_budgets WHERE pool = $1 FOR UPDATE`, p.Pool).Scan(&micros, &currency)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		budgeted = true
		var used int64
		if err := tx.QueryRow(ctx, poolUsedSQL, p.Pool, currency, store.MonthStart(now)).Scan(&used); err != nil {
			return err
		}
		left := micros - used
		if used >= micros || p.Pricing.PriceMicros > 0 && p.Pricing.Currency != currency {
			return nil // used up, or a worker priced in another currency
		}
		for len(jobs) < p.Max {
			got, err := pinnedPlan(ctx, tx, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, true) },
				claimSQL, p.WorkerID, 1, now,
				p.Fits.MemoryBytes, p.Fits.CPUs, p.Fits.Pids, p.Fits.TimeoutSeconds,
				p.Defaults.MemoryBytes, p.Defaults.CPUs, p.Defaults.Pids, p.Defaults.TimeoutSeconds,
				p.Fits.DiskBytes, p.Defaults.DiskBytes, owners, caps,
				p.Pricing.PriceMicros, p.Pricing.Currency, p.Pricing.CPUs, p.Pricing.MemoryBytes, p.Slots, left)
			if err != nil || len(got) == 0 {
				return err
			}
			j := got[0]
			hold := store.HoldMicros(j.RateMicros, j.Limits.TimeoutSeconds)
			if _, err := tx.Exec(ctx, `INSERT INTO pool_holds (job_id, attempt, pool, micros, currency, created_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, j.ID, j.Attempt, p.Pool, hold, currency, now); err != nil {
				return err
			}
			left -= hold
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, true, fmt.Errorf("claim jobs for worker %s of pool %s: %w", p.WorkerID, p.Pool, err)
	}
	return jobs, budgeted, nil
}

// maxClaimRounds bounds the statements of one claim: each round after
// the first follows one that leased items of a batch.
const maxClaimRounds = 8

// pinnedPlan runs one statement of the queue's hot path with bitmap and
// sequential scans off, so that it reads the tables through the index its
// text was written for however stale the statistics are: a queue's tables
// swing between nearly empty and large faster than ANALYZE follows. The
// settings are local to the statement's implicit transaction (a batch of
// two, one round trip).
func pinnedPlan[T any](ctx context.Context, pool interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)`)
	b.Queue(sql, args...)
	br := pool.SendBatch(ctx, b)
	out, err := func() ([]T, error) {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, scan)
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// checkCurrent locks the job row (with lock, e.g. "FOR UPDATE") and returns
// its state when ref is its current attempt and the job is leased or
// running, else store.ErrStaleAttempt (or store.ErrNotFound).
func checkCurrent(ctx context.Context, q querier, ref store.AttemptRef, lock string) (store.State, error) {
	var (
		j   store.Job
		err = q.QueryRow(ctx, `SELECT state, attempt FROM jobs WHERE id = $1 `+lock, ref.JobID).Scan(&j.State, &j.Attempt)
	)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	if !j.Holds(ref.Attempt) {
		return "", store.ErrStaleAttempt
	}
	return j.State, nil
}

// startSQL is StartAttempt's common case, as store.DecideStart has it for
// a leased attempt: the job row is updated only while ref is its current,
// leased attempt.
const startSQL = `UPDATE jobs SET state = 'running', started_at = $3
    WHERE id = $1 AND attempt = $2 AND state = 'leased'
    RETURNING ` + jobColumns

// StartAttempt moves the current attempt and its job to running.
func (s *Store) StartAttempt(ctx context.Context, ref store.AttemptRef, now time.Time) (store.Job, error) {
	now = nowOr(now)
	j, err := scanJob(s.pool.QueryRow(ctx, startSQL, ref.JobID, ref.Attempt, now), false)
	if err == nil {
		return j, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, fmt.Errorf("start attempt %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	// Not a leased current attempt: already running (a retried report),
	// stale, or unknown.
	j, err = s.decideLocked(ctx, ref.JobID, func(cur store.Job) (store.Change, error) {
		return store.DecideStart(cur, ref.Attempt, now)
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("start attempt %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	return j, nil
}

// startedAt is what a result sets a job's started_at to, given the
// result's Started ($started) and time ($at), in finishSQL and
// finishManySQL.
func startedAt(started, at string) string {
	return `CASE WHEN ` + started + ` THEN coalesce(started_at, ` + at + `) ELSE started_at END`
}

// FinishAttempt records the result of the current attempt as
// store.DecideFinish decides: it ends the job, or queues it again when a
// script failure leaves it retries.
func (s *Store) FinishAttempt(ctx context.Context, p store.FinishParams) (store.Job, error) {
	p.Now = nowOr(p.Now)
	if store.Plain(p) {
		// One statement ends job and attempt.
		j, err := scanJob(s.pool.QueryRow(ctx, finishSQL, p.JobID, p.Attempt, string(p.State), p.ExitCode,
			p.Reason, p.Message, p.Now, p.Failure, p.Started), false)
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Job{}, fmt.Errorf("finish attempt %s/%d: %w", p.JobID, p.Attempt, err)
		}
		// Not current: the general path says stale or not found.
	}
	j, err := s.decideLocked(ctx, p.JobID, func(cur store.Job) (store.Change, error) {
		return store.DecideFinish(cur, p)
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("finish attempt %s/%d: %w", p.JobID, p.Attempt, err)
	}
	return j, nil
}

// finishSQL is store.DecideFinish for a result that ends the job
// (store.EndsJob): the job row, updated only while p's attempt is its
// current, active one, is the attempt's record. An item of a batch takes
// the general path, which counts it in its batch as well.
var finishSQL = `
UPDATE jobs SET state = $3, exit_code = $4, reason = $5, message = $6,
    finished_at = $7, failure = $8, started_at = ` + startedAt("$9", "$7") + `
WHERE id = $1 AND attempt = $2 AND state IN ('leased', 'running') AND batch_id IS NULL
RETURNING ` + jobColumns

// AttemptsToStop returns the worker's active attempts whose job was asked
// to cancel. An active attempt is always its job's current one (the job
// row holds it), so no other kind of attempt needs stopping: a worker whose
// attempt was ended behind its back learns it from ErrStaleAttempt on its
// next report. The partial index jobs_cancel_requested holds just these.
func (s *Store) AttemptsToStop(ctx context.Context, workerID string) ([]store.AttemptRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, attempt FROM jobs
		WHERE worker_id = $1 AND cancel_requested AND state IN ('leased', 'running')
		ORDER BY seq`, workerID)
	if err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AttemptRef, error) {
		var ref store.AttemptRef
		err := r.Scan(&ref.JobID, &ref.Attempt)
		return ref, err
	})
	if err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	return out, nil
}

// startManySQL is startSQL for many attempts. The input comes sorted by
// id and drives the join (an index lookup per attempt), so the rows are
// locked in id order and two batches never wait on each other crosswise.
var startManySQL = `
UPDATE jobs SET state = 'running', started_at = $3
FROM unnest($1::text[], $2::int[]) AS input(id, attempt)
WHERE jobs.id = input.id AND jobs.attempt = input.attempt AND jobs.state = 'leased'
RETURNING ` + jobColumnsOf("jobs")

// StartAttempts starts every leased current attempt of refs in one
// statement, and takes the others (already running, stale, unknown) one
// by one.
func (s *Store) StartAttempts(ctx context.Context, refs []store.AttemptRef, now time.Time) ([]store.Job, []error, error) {
	jobs, errs, done := make([]store.Job, len(refs)), make([]error, len(refs)), make([]bool, len(refs))
	ids, attempts := make([]string, 0, len(refs)), make([]int32, 0, len(refs))
	index := make(map[store.AttemptRef]int, len(refs))
	for _, i := range byID(len(refs), func(i int) string { return refs[i].JobID }) {
		r := refs[i]
		ids, attempts = append(ids, r.JobID), append(attempts, int32(r.Attempt))
		index[r] = i
	}
	if err := s.batch(ctx, startManySQL, index, jobs, done, ids, attempts, nowOr(now)); err != nil {
		return nil, nil, fmt.Errorf("start %d attempts: %w", len(refs), err)
	}
	start := func(ctx context.Context, ref store.AttemptRef) (store.Job, error) {
		return s.StartAttempt(ctx, ref, now)
	}
	return jobs, errs, store.Each(ctx, refs, start, jobs, errs, done)
}

// FinishAttempts ends in one statement every attempt of ps whose result
// queues nothing again (per job the same as finishSQL), and takes the
// others one by one.
func (s *Store) FinishAttempts(ctx context.Context, ps []store.FinishParams) ([]store.Job, []error, error) {
	jobs, errs, done := make([]store.Job, len(ps)), make([]error, len(ps)), make([]bool, len(ps))
	var (
		ids, states, reasons, messages, failures []string
		attempts                                 []int32
		started                                  []bool
		exits                                    []*int32
		ats                                      []time.Time
	)
	index := map[store.AttemptRef]int{}
	for _, i := range byID(len(ps), func(i int) string { return ps[i].JobID }) {
		p := ps[i]
		if !store.Plain(p) {
			continue // not terminal is refused, a retry is possible: one by one
		}
		var exit *int32
		if p.ExitCode != nil {
			e := int32(*p.ExitCode)
			exit = &e
		}
		ids, attempts, states = append(ids, p.JobID), append(attempts, int32(p.Attempt)), append(states, string(p.State))
		exits, reasons, messages = append(exits, exit), append(reasons, p.Reason), append(messages, p.Message)
		failures, ats, started = append(failures, p.Failure), append(ats, nowOr(p.Now)), append(started, p.Started)
		index[store.AttemptRef{JobID: p.JobID, Attempt: p.Attempt}] = i
	}
	if len(ids) > 0 {
		if err := s.batch(ctx, finishManySQL, index, jobs, done, ids, attempts, states, exits, reasons, messages, ats, failures, started); err != nil {
			return nil, nil, fmt.Errorf("finish %d attempts: %w", len(ids), err)
		}
	}
	return jobs, errs, store.Each(ctx, ps, s.FinishAttempt, jobs, errs, done)
}

// byID returns the indexes 0..n-1 ordered by the job id each names: the
// order in which batch statements lock rows.
func byID(n int, id func(int) string) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(id(a), id(b)) })
	return order
}

// finishManySQL is finishSQL for many attempts, driven by input sorted
// by id as startManySQL is.
var finishManySQL = `
UPDATE jobs SET state = input.state, exit_code = input.exit_code, reason = input.reason,
    message = input.message, finished_at = input.at, failure = input.failure,
    started_at = ` + startedAt("input.started", "input.at") + `
FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[], $6::text[],
    $7::timestamptz[], $8::text[], $9::boolean[])
    AS input(id, attempt, state, exit_code, reason, message, at, failure, started)
WHERE jobs.id = input.id AND jobs.attempt = input.attempt AND jobs.state IN ('leased', 'running')
    AND jobs.batch_id IS NULL
RETURNING ` + jobColumnsOf("jobs")

// batch runs one of the batch statements and records each job it returns
// as the answer to its attempt's report (index: the report's position).
// Its plan is pinned (see pinnedPlan) to an index lookup per attempt: left
// to statistics that lag behind the queue, the planner hashed every active
// job instead.
func (s *Store) batch(ctx context.Context, sql string, index map[store.AttemptRef]int, jobs []store.Job, done []bool, args ...any) error {
	got, err := pinnedPlan(ctx, s.pool, func(r pgx.CollectableRow) (store.Job, error) { return scanJob(r, false) }, sql, args...)
	if err != nil {
		return err
	}
	for _, j := range got {
		if i, ok := index[store.AttemptRef{JobID: j.ID, Attempt: j.Attempt}]; ok {
			jobs[i], done[i] = j, true
		}
	}
	return nil
}
