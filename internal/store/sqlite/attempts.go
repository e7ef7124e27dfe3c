package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rgrid/rgrid/internal/store"
)

// claimCandidatesSQL selects queued jobs that fit, oldest first, after a
// seq: items of a batch at its parallelism as stored, or of a batch in the
// JSON list ?9 (found full by this claim), are passed over.
const claimCandidatesSQL = `SELECT seq, coalesce(batch_id, ''), owner_id, cpus, memory_bytes, timeout_seconds FROM jobs WHERE state = 'queued'
	AND (?1 = 0 OR memory_bytes <= ?1) AND (?2 = 0 OR cpus <= ?2)
	AND (?3 = 0 OR pids <= ?3) AND (?4 = 0 OR timeout_seconds <= ?4)
	AND (?5 = 0 OR disk_bytes <= ?5)
	AND seq > ?6
	AND (batch_id IS NULL OR (NOT EXISTS (SELECT 1 FROM batches b
		WHERE b.id = jobs.batch_id AND b.parallelism > 0 AND b.n_running >= b.parallelism)
		AND batch_id NOT IN (SELECT value FROM json_each(?8))))
	AND owner_id NOT IN (SELECT value FROM json_each(?9))
	ORDER BY seq LIMIT ?7`

// claimSQL leases the jobs whose seqs are in the JSON list ?1, writing
// each one's rate as store.Rate has it for the claiming worker's pricing
// (?9 price, ?10 currency, ?11 CPUs, ?12 memory, ?13 slots) and the job's
// limits as claimed.
const claimSQL = `UPDATE jobs
	SET state = 'leased', attempt = attempt + 1, worker_id = ?2, leased_at = ?3,
		memory_bytes = CASE WHEN memory_bytes = 0 THEN ?4 ELSE memory_bytes END,
		cpus = CASE WHEN cpus = 0 THEN ?5 ELSE cpus END,
		pids = CASE WHEN pids = 0 THEN ?6 ELSE pids END,
		timeout_seconds = CASE WHEN timeout_seconds = 0 THEN ?7 ELSE timeout_seconds END,
		disk_bytes = CASE WHEN disk_bytes = 0 THEN ?8 ELSE disk_bytes END,
		rate_micros = CASE WHEN ?9 <= 0 THEN 0 ELSE CAST(?9 * min(1.0, max(
			CASE WHEN ?11 > 0 AND (CASE WHEN cpus = 0 THEN ?5 ELSE cpus END) > 0
				THEN (CASE WHEN cpus = 0 THEN ?5 ELSE cpus END) / ?11 ELSE 1.0 / max(?13, 1) END,
			CASE WHEN ?12 > 0 AND (CASE WHEN memory_bytes = 0 THEN ?4 ELSE memory_bytes END) > 0
				THEN CAST(CASE WHEN memory_bytes = 0 THEN ?4 ELSE memory_bytes END AS REAL) / ?12 ELSE 1.0 / max(?13, 1) END
		)) + 0.5 AS INTEGER) END,
		currency = ?10
	WHERE seq IN (SELECT value FROM json_each(?1)) AND state = 'queued'
	RETURNING ` + jobColumnsScript

// ClaimJobs leases up to p.Max queued jobs that fit p.Fits, oldest first, to
// p.WorkerID, filling their unset limits from p.Defaults. The write
// transaction is BEGIN IMMEDIATE, so no other process or connection can
// claim between the select and the update. Items of a batch are leased
// within its parallelism (store.BatchRoom): when the candidates hold more
// of a batch than it has room for, the claim reads on past them.
func (s *Store) ClaimJobs(ctx context.Context, p store.ClaimParams) ([]store.Job, error) {
	if p.Max <= 0 {
		return nil, nil
	}
	var jobs []store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		jobs = jobs[:0]
		budget, err := poolBudgetLeft(ctx, tx, p)
		if err != nil || budget != nil && budget.left < 0 {
			return err
		}
		seqs, err := claimable(ctx, tx, p, budget)
		if err != nil || len(seqs) == 0 {
			return err
		}
		list, err := json.Marshal(seqs)
		if err != nil {
			return err
		}
		if jobs, err = queryJobsScript(ctx, tx, claimSQL, string(list), p.WorkerID, nanos(nowOr(p.Now)),
			p.Defaults.MemoryBytes, p.Defaults.CPUs, p.Defaults.Pids, p.Defaults.TimeoutSeconds,
			p.Defaults.DiskBytes, p.Pricing.PriceMicros, p.Pricing.Currency, p.Pricing.CPUs,
			p.Pricing.MemoryBytes, p.Slots); err != nil {
			return err
		}
		if budget != nil {
			for _, j := range jobs {
				if _, err := tx.ExecContext(ctx, `INSERT INTO pool_holds (job_id, attempt, pool, micros, currency, created_at)
					VALUES (?, ?, ?, ?, ?, ?)`, j.ID, j.Attempt, p.Pool, store.HoldMicros(j.RateMicros, j.Limits.TimeoutSeconds),
					budget.currency, nanos(nowOr(p.Now))); err != nil {
					return err
				}
			}
		}
		d := batchDeltas{}
		for _, j := range jobs {
			if j.BatchID != "" {
				c := d[j.BatchID]
				c.Queued--
				c.Running++
				d[j.BatchID] = c
			}
		}
		return d.flush(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs for worker %s: %w", p.WorkerID, err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int { return cmp.Compare(a.Seq, b.Seq) })
	return jobs, nil
}

// ownerRooms is, for each owner with a running cap, how many more of
// their jobs may be leased: the cap less their leased and running jobs,
// counted in the claim's write transaction.
func ownerRooms(ctx context.Context, tx *sql.Tx, caps map[string]int) (map[string]int, error) {
	rooms := make(map[string]int, len(caps))
	if len(caps) == 0 {
		return rooms, nil
	}
	owners := make([]string, 0, len(caps))
	for o, c := range caps {
		owners, rooms[o] = append(owners, o), c
	}
	list, err := json.Marshal(owners)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT owner_id, count(*) FROM jobs
		WHERE state IN ('leased', 'running') AND owner_id IN (SELECT value FROM json_each(?)) GROUP BY owner_id`, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			o string
			n int
		)
		if err := rows.Scan(&o, &n); err != nil {
			return nil, err
		}
		rooms[o] -= n
	}
	return rooms, rows.Err()
}

// budgetLeft is what is left of the claiming worker's pool's budget
// this month: left < 0 takes nothing (used up, or the worker is priced in
// another currency than the budget).
type budgetLeft struct {
	left     int64
	currency string
}

// poolBudgetLeft reads what is left of p.Pool's budget (nil: no budget),
// in the claim's write transaction, which no other claim passes.
func poolBudgetLeft(ctx context.Context, tx *sql.Tx, p store.ClaimParams) (*budgetLeft, error) {
	if p.Pool == "" {
		return nil, nil
	}
	var b budgetLeft
	var micros int64
	err := tx.QueryRowContext(ctx, `SELECT micros, currency FROM pool_budgets WHERE pool = ?`, p.Pool).Scan(&micros, &b.currency)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var used int64
	if err := tx.QueryRowContext(ctx, poolUsedSQL, p.Pool, b.currency, nanos(store.MonthStart(nowOr(p.Now)))).Scan(&used); err != nil {
		return nil, err
	}
	b.left = micros - used
	if used >= micros || p.Pricing.PriceMicros > 0 && p.Pricing.Currency != b.currency {
		b.left = -1
	}
	return &b, nil
}

// claimable returns the seqs of up to p.Max jobs a claim may lease: of
// those whose worst case fits budget, when there is one.
func claimable(ctx context.Context, tx *sql.Tx, p store.ClaimParams, budget *budgetLeft) ([]int64, error) {
	type room struct{ left int }
	var (
		seqs      []int64
		after     int64
		rooms     = map[string]*room{}
		full      = []string{}
		fullSet   = map[string]bool{}
		fullUsers = []string{}
	)
	owners, err := ownerRooms(ctx, tx, p.OwnerCap)
	if err != nil {
		return nil, err
	}
	for o, n := range owners {
		if n <= 0 {
			fullUsers = append(fullUsers, o)
		}
	}
	for len(seqs) < p.Max {
		fullList, err := json.Marshal(full)
		if err != nil {
			return nil, err
		}
		usersList, err := json.Marshal(fullUsers)
		if err != nil {
			return nil, err
		}
		want := p.Max - len(seqs)
		page := want
		if budget != nil {
			// Jobs whose worst case does not fit are read past: in pages
			// large enough that a queue of them is read in few statements.
			page = max(want, budgetPage)
		}
		rows, err := tx.QueryContext(ctx, claimCandidatesSQL, p.Fits.MemoryBytes, p.Fits.CPUs, p.Fits.Pids,
			p.Fits.TimeoutSeconds, p.Fits.DiskBytes, after, page, string(fullList), string(usersList))
		if err != nil {
			return nil, err
		}
		type cand struct {
			seq          int64
			batch, owner string
			limits       store.Limits
		}
		var cands []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.seq, &c.batch, &c.owner, &c.limits.CPUs, &c.limits.MemoryBytes, &c.limits.TimeoutSeconds); err != nil {
				rows.Close()
				return nil, err
			}
			cands = append(cands, c)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		passed := false
		for _, c := range cands {
			if len(seqs) >= p.Max {
				break
			}
			after = c.seq
			var hold int64
			if budget != nil {
				if hold = candidateHold(p, c.limits); hold > budget.left {
					passed = true // its worst case does not fit what is left
					continue
				}
			}
			if n, capped := owners[c.owner]; capped && n <= 0 {
				passed = true // the owner's room ran out in this claim
				if !slices.Contains(fullUsers, c.owner) {
					fullUsers = append(fullUsers, c.owner)
				}
				continue
			}
			take := func() {
				seqs = append(seqs, c.seq)
				if budget != nil {
					budget.left -= hold
				}
				if _, capped := owners[c.owner]; capped {
					owners[c.owner]--
				}
			}
			if c.batch == "" {
				take()
				continue
			}
			r, ok := rooms[c.batch]
			if !ok {
				var parallelism, running int
				if err := tx.QueryRowContext(ctx, `SELECT parallelism, n_running FROM batches WHERE id = ?`, c.batch).
					Scan(&parallelism, &running); err != nil {
					return nil, fmt.Errorf("batch %s: %w", c.batch, err)
				}
				r = &room{left: store.BatchRoom(parallelism, running, p.Max)}
				rooms[c.batch] = r
			}
			if r.left == 0 {
				passed = true
				if !fullSet[c.batch] {
					fullSet[c.batch] = true
					full = append(full, c.batch)
				}
				continue
			}
			r.left--
			take()
		}
		if !passed || len(cands) < page {
			break // no batch or owner held the claim back, or the queue gave all it had
		}
	}
	return seqs, nil
}

// budgetPage is how many queued jobs a claim against a pool's budget
// reads at a time.
const budgetPage = 256

// candidateHold is the worst case of a queued job with limits l claimed
// as p says: its limits filled from p.Defaults, at p's rate for them.
func candidateHold(p store.ClaimParams, l store.Limits) int64 {
	if l.CPUs == 0 {
		l.CPUs = p.Defaults.CPUs
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = p.Defaults.MemoryBytes
	}
	if l.TimeoutSeconds == 0 {
		l.TimeoutSeconds = p.Defaults.TimeoutSeconds
	}
	rate := store.Rate(p.Pricing, p.Slots, l)
	if rate > 0 && l.TimeoutSeconds <= 0 {
		return math.MaxInt64 // no time limit: no worst case, never fits
	}
	return store.HoldMicros(rate, l.TimeoutSeconds)
}

// checkCurrent returns the job's state when ref is its current attempt and
// the job is leased or running, else store.ErrStaleAttempt (or
// store.ErrNotFound).
func checkCurrent(ctx context.Context, q querier, ref store.AttemptRef) (store.State, error) {
	var j store.Job
	err := q.QueryRowContext(ctx, `SELECT state, attempt FROM jobs WHERE id = ?`, ref.JobID).Scan(&j.State, &j.Attempt)
	if errors.Is(err, sql.ErrNoRows) {
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

// StartAttempt moves the current attempt and its job to running, as
// store.DecideStart decides.
func (s *Store) StartAttempt(ctx context.Context, ref store.AttemptRef, now time.Time) (store.Job, error) {
	now = nowOr(now)
	j, err := s.decideWrite(ctx, ref.JobID, func(cur store.Job) (store.Change, error) {
		return store.DecideStart(cur, ref.Attempt, now)
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("start attempt %s/%d: %w", ref.JobID, ref.Attempt, err)
	}
	return j, nil
}

// FinishAttempt records the result of the current attempt as
// store.DecideFinish decides: it ends the job, or queues it again when a
// script failure leaves it retries.
func (s *Store) FinishAttempt(ctx context.Context, p store.FinishParams) (store.Job, error) {
	p.Now = nowOr(p.Now)
	j, err := s.decideWrite(ctx, p.JobID, func(cur store.Job) (store.Change, error) {
		return store.DecideFinish(cur, p)
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("finish attempt %s/%d: %w", p.JobID, p.Attempt, err)
	}
	return j, nil
}

// AttemptsToStop returns the worker's active attempts whose job was asked
// to cancel. An active attempt is always its job's current one (the job
// row holds it); a worker whose attempt was ended behind its back learns
// it from ErrStaleAttempt on its next report.
func (s *Store) AttemptsToStop(ctx context.Context, workerID string) ([]store.AttemptRef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, attempt FROM jobs
		WHERE worker_id = ? AND cancel_requested AND state IN ('leased', 'running')
		ORDER BY seq`, workerID)
	if err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	defer rows.Close()
	var out []store.AttemptRef
	for rows.Next() {
		var r store.AttemptRef
		if err := rows.Scan(&r.JobID, &r.Attempt); err != nil {
			return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts to stop on worker %s: %w", workerID, err)
	}
	return out, nil
}

// StartAttempts starts each attempt in turn.
func (s *Store) StartAttempts(ctx context.Context, refs []store.AttemptRef, now time.Time) ([]store.Job, []error, error) {
	jobs, errs := make([]store.Job, len(refs)), make([]error, len(refs))
	start := func(ctx context.Context, ref store.AttemptRef) (store.Job, error) {
		return s.StartAttempt(ctx, ref, now)
	}
	return jobs, errs, store.Each(ctx, refs, start, jobs, errs, nil)
}

// FinishAttempts finishes each attempt in turn.
func (s *Store) FinishAttempts(ctx context.Context, ps []store.FinishParams) ([]store.Job, []error, error) {
	jobs, errs := make([]store.Job, len(ps)), make([]error, len(ps))
	return jobs, errs, store.Each(ctx, ps, s.FinishAttempt, jobs, errs, nil)
}
