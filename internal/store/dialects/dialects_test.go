package dialects_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/store/postgres"
	"github.com/rgrid/rgrid/internal/store/sqlite"
	"github.com/rgrid/rgrid/internal/testdb"
)

// TestMigrationNumbers: every migration exists in both dialects, under the
// same number and name (a no-op file where one dialect needs nothing), so
// that a schema version means the same on both.
func TestMigrationNumbers(t *testing.T) {
	t.Parallel()
	names := func(fsys fs.FS) []string {
		entries, err := fs.ReadDir(fsys, ".")
		require.NoError(t, err)
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	pg, lite := names(postgres.Migrations()), names(sqlite.Migrations())
	require.NotEmpty(t, pg)
	require.Equal(t, pg, lite, "the migrations of the two dialects differ: add the missing file (a no-op if it needs nothing)")
	for i, n := range pg {
		require.True(t, strings.HasPrefix(n, fmt.Sprintf("%05d_", i+1)), "migration %s is not numbered %05d", n, i+1)
	}
}

// TestSameSchema: after every migration, both dialects have the same
// tables, the same columns in each, and the same named indexes.
func TestSameSchema(t *testing.T) {
	t.Parallel()
	pgURL, liteURL := testdb.PostgresURL(t), testdb.SQLiteURL(t)
	for _, u := range []string{pgURL, liteURL} {
		m, err := database.NewMigrator(t.Context(), u)
		require.NoError(t, err)
		_, err = m.Up(t.Context())
		require.NoError(t, err)
		require.NoError(t, m.Close())
	}
	pg := pgSchema(t, pgURL)
	lite := liteSchema(t, strings.TrimPrefix(liteURL, "sqlite://"))
	require.NotEmpty(t, pg)
	require.Equal(t, pg, lite, "PostgreSQL's schema (want) and SQLite's (got) differ")
}

// schema maps "table" to its sorted column names, and "index NAME" to the
// index's table.
type schema map[string]string

func pgSchema(t *testing.T, dbURL string) schema {
	db, err := sql.Open("pgx", dbURL)
	require.NoError(t, err)
	defer db.Close()
	out := schema{}
	rows, err := db.QueryContext(t.Context(), `SELECT table_name, string_agg(column_name, ',' ORDER BY column_name)
		FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
		GROUP BY table_name`)
	require.NoError(t, err)
	scanInto(t, rows, out, "")
	// Indexes that back a primary key or a unique constraint are named by
	// each database its own way; the constraints are in the columns' DDL.
	rows, err = db.QueryContext(t.Context(), `SELECT indexname, tablename FROM pg_indexes
		WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
		  AND indexname NOT LIKE '%\_pkey' AND indexname NOT LIKE '%\_key'`)
	require.NoError(t, err)
	scanInto(t, rows, out, "index ")
	return out
}

func liteSchema(t *testing.T, path string) schema {
	db, err := sql.Open(sqlite.DriverName, sqlite.DSN(path))
	require.NoError(t, err)
	defer db.Close()
	out := schema{}
	rows, err := db.QueryContext(t.Context(), `SELECT m.name, group_concat(c.name, ',')
		FROM sqlite_master m JOIN pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT IN ('goose_db_version', 'sqlite_sequence')
		GROUP BY m.name`)
	require.NoError(t, err)
	scanInto(t, rows, out, "")
	rows, err = db.QueryContext(t.Context(), `SELECT name, tbl_name FROM sqlite_master
		WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%' AND tbl_name <> 'goose_db_version'`)
	require.NoError(t, err)
	scanInto(t, rows, out, "index ")
	return out
}

func scanInto(t *testing.T, rows *sql.Rows, out schema, prefix string) {
	t.Helper()
	defer rows.Close()
	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		if prefix == "" {
			cols := strings.Split(v, ",")
			sort.Strings(cols)
			v = strings.Join(cols, ",")
		}
		out[prefix+k] = v
	}
	require.NoError(t, rows.Err())
}

// TestSameOutcomes drives both stores through the same random sequence of
// what the server does (submit, claim, start, results alone and in
// batches, lost workers, overdue jobs, cancels, logs) and requires the
// same answer to every call and the same jobs and attempts after each: one
// data model and one state machine, whatever the SQL.
func TestSameOutcomes(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			pg, lite := testdb.OpenPostgres(t), testdb.OpenSQLite(t)
			r := rand.New(rand.NewPCG(seed, 99))
			m := &model{t: t, stores: [2]store.Store{pg, lite}, now: time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)}
			for step := range 250 {
				m.step(r, step)
			}
			require.Positive(t, m.ended, "the sequence ended no job: it tests little")
		})
	}
}

type model struct {
	t      *testing.T
	stores [2]store.Store // postgres, sqlite
	now    time.Time
	jobs   []string
	seen   map[store.AttemptRef]bool // attempts ever claimed, stale ones included
	ended  int                       // jobs seen ended by a comparison
	// batches made so far, their items, and the batches retried (whose
	// items' counters start afresh while their attempts stay).
	batches []string
	items   map[string][]string
	retried map[string]bool
}

var workers = []string{"w1", "w2", "w3"}

// answer is one call's result, comparable across stores.
type answer struct {
	Batches []store.Batch
	Jobs    []store.Job
	Refs    []store.AttemptRef
	Errs    []string
}

func errClass(err error) string {
	for _, e := range []error{store.ErrStaleAttempt, store.ErrNotFound, store.ErrJobFinished, store.ErrWorkerBusy} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func (m *model) step(r *rand.Rand, step int) {
	ctx := m.t.Context()
	m.now = m.now.Add(time.Duration(1+r.IntN(20)) * time.Second)
	now := m.now
	if m.seen == nil {
		m.seen = map[store.AttemptRef]bool{}
	}
	var (
		what string
		call func(s store.Store) answer
	)
	refs := m.someRefs(r)
	touched := map[string]bool{}
	if m.items == nil {
		m.items, m.retried = map[string][]string{}, map[string]bool{}
	}
	switch op := r.IntN(100); {
	case op < 4 || (op < 20 && r.IntN(5) == 0):
		id := fmt.Sprintf("bat-%03d", step)
		nb := store.NewBatch{ID: id, Name: "x.py", Kind: store.BatchFiles, Parallelism: r.IntN(3), CreatedAt: now,
			Item: store.NewJob{Script: []byte("x"), FileName: "x.py", Runtime: "python3.11",
				MaxAttempts: 1 + r.IntN(3), Retries: r.IntN(2), Limits: store.Limits{TimeoutSeconds: int64(10 + r.IntN(60))}}}
		for i := range 2 + r.IntN(4) {
			item := fmt.Sprintf("%s-%d", id, i)
			nb.Items = append(nb.Items, store.NewBatchItem{ID: item, Input: fmt.Sprintf("in/%d", i), Args: []string{fmt.Sprintf("in/%d", i)}})
			m.jobs = append(m.jobs, item)
			m.items[id] = append(m.items[id], item)
		}
		m.batches = append(m.batches, id)
		what = "create batch " + id
		call = func(s store.Store) answer {
			b, _, err := s.CreateBatch(ctx, nb)
			return answer{Batches: []store.Batch{b}, Errs: []string{errClass(err)}}
		}
	case op < 20 || len(m.jobs) == 0:
		id := fmt.Sprintf("job-%03d", step)
		nj := store.NewJob{ID: id, Script: []byte("x"), FileName: "x.py", Runtime: "python3.11",
			MaxAttempts: 1 + r.IntN(3), Retries: r.IntN(3), CreatedAt: now,
			Limits: store.Limits{TimeoutSeconds: int64(10 + r.IntN(60))}}
		m.jobs = append(m.jobs, id)
		what = "create " + id
		call = func(s store.Store) answer {
			j, err := s.CreateJob(ctx, nj)
			return answer{Jobs: []store.Job{j}, Errs: []string{errClass(err)}}
		}
	case op < 35:
		w, n := workers[r.IntN(len(workers))], 1+r.IntN(3)
		what = fmt.Sprintf("claim %d for %s", n, w)
		call = func(s store.Store) answer {
			js, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: w, Max: n, Now: now,
				Defaults: store.Limits{MemoryBytes: 1 << 20}})
			for i := range js {
				js[i].Script = nil
			}
			return answer{Jobs: js, Errs: []string{errClass(err)}}
		}
	case op < 50:
		what = fmt.Sprintf("start %v", refs)
		call = func(s store.Store) answer {
			js, errs, err := s.StartAttempts(ctx, refs, now)
			return batchAnswer(js, errs, err)
		}
	case op < 70:
		ps := make([]store.FinishParams, len(refs))
		terminal := []store.State{store.StateSucceeded, store.StateFailed, store.StateTimedOut,
			store.StateOOMKilled, store.StateCanceled, store.StateError, store.StateLost}
		for i, ref := range refs {
			st := terminal[r.IntN(len(terminal))]
			exit := r.IntN(3)
			ps[i] = store.FinishParams{JobID: ref.JobID, Attempt: ref.Attempt, State: st, ExitCode: &exit,
				Reason: string(st), Message: "result of " + ref.JobID, Failure: `{"exception":"E"}`,
				Started: r.IntN(2) == 0, Now: now}
		}
		single := r.IntN(2) == 0 && len(ps) == 1
		what = fmt.Sprintf("finish %v (single %v)", refs, single)
		call = func(s store.Store) answer {
			if single {
				j, err := s.FinishAttempt(ctx, ps[0])
				return answer{Jobs: []store.Job{j}, Errs: []string{errClass(err)}}
			}
			js, errs, err := s.FinishAttempts(ctx, ps)
			return batchAnswer(js, errs, err)
		}
	case op < 78:
		w := workers[r.IntN(len(workers))]
		p := store.LoseParams{WorkerID: w, OnlyLeased: r.IntN(3) == 0, Message: "worker " + w + " lost", Now: now}
		if r.IntN(3) == 0 {
			p.LeasedBefore = now.Add(-time.Duration(r.IntN(60)) * time.Second)
		}
		if len(refs) > 0 && r.IntN(2) == 0 {
			p.Keep = refs[:1]
		}
		what = fmt.Sprintf("lose %+v", p)
		call = func(s store.Store) answer {
			js, err := s.LoseAttempts(ctx, p)
			return answer{Jobs: js, Errs: []string{errClass(err)}}
		}
	case op < 84:
		m.now = m.now.Add(time.Duration(r.IntN(90)) * time.Second)
		at := m.now
		what = "expire at " + at.String()
		call = func(s store.Store) answer {
			js, err := s.ExpireOverdue(ctx, at, 5*time.Second)
			return answer{Jobs: js, Errs: []string{errClass(err)}}
		}
	case op < 93 && op >= 89 && len(m.batches) > 0:
		id := m.batches[r.IntN(len(m.batches))]
		switch k := r.IntN(3); k {
		case 0:
			what = "cancel batch " + id
			call = func(s store.Store) answer {
				b, js, err := s.CancelBatch(ctx, id, now)
				return answer{Batches: []store.Batch{b}, Jobs: js, Errs: []string{errClass(err)}}
			}
		case 1:
			what = "retry batch " + id
			for _, item := range m.items[id] {
				m.retried[item] = true
			}
			call = func(s store.Store) answer {
				b, n, err := s.RetryBatch(ctx, id)
				return answer{Batches: []store.Batch{b}, Errs: []string{errClass(err), fmt.Sprint(n)}}
			}
		default:
			n := r.IntN(4)
			what = fmt.Sprintf("set parallelism of %s to %d", id, n)
			call = func(s store.Store) answer {
				b, err := s.SetBatchParallelism(ctx, id, n)
				return answer{Batches: []store.Batch{b}, Errs: []string{errClass(err)}}
			}
		}
		for _, item := range m.items[id] {
			touched[item] = true
		}
	case op < 92:
		id := m.jobs[r.IntN(len(m.jobs))]
		what = "cancel " + id
		call = func(s store.Store) answer {
			j, err := s.RequestCancel(ctx, id, now)
			return answer{Jobs: []store.Job{j}, Errs: []string{errClass(err)}}
		}
	default:
		what = fmt.Sprintf("logs and stop checks %v", refs)
		call = func(s store.Store) answer {
			var a answer
			for _, ref := range refs {
				err := s.AppendLogs(ctx, ref, []store.LogChunk{{Stream: "stdout", Seq: 1, Time: now, Data: []byte("x")}})
				a.Errs = append(a.Errs, errClass(err))
				a.Errs = append(a.Errs, errClass(s.MarkLogsTruncated(ctx, ref)))
			}
			for _, w := range workers {
				stop, err := s.AttemptsToStop(ctx, w)
				a.Refs = append(a.Refs, stop...)
				a.Errs = append(a.Errs, errClass(err))
			}
			return a
		}
	}
	var got [2]answer
	for i, s := range m.stores {
		got[i] = call(s)
		if len(got[i].Jobs) == 0 {
			got[i].Jobs = nil // none is none, whatever the driver's rows gave
		}
	}
	require.Equal(m.t, got[0], got[1], "step %d: %s: postgres (want) and sqlite (got) answer differently", step, what)
	for _, j := range got[0].Jobs {
		if j.Attempt > 0 {
			m.seen[store.AttemptRef{JobID: j.ID, Attempt: j.Attempt}] = true
		}
		touched[j.ID] = true
	}
	for _, ref := range refs {
		touched[ref.JobID] = true
	}
	// The jobs the step named or returned, and every tenth step all.
	m.compare(ctx, step, what, func(id string) bool { return step%10 == 9 || touched[id] })
	m.compareBatches(ctx, step, what)
}

// compareBatches requires every batch to read the same in both stores,
// and its counters to be what its items' states add up to.
func (m *model) compareBatches(ctx context.Context, step int, what string) {
	for _, id := range m.batches {
		var bs [2]store.Batch
		for i, s := range m.stores {
			b, err := s.GetBatch(ctx, id)
			require.NoError(m.t, err)
			bs[i] = b
		}
		require.Equal(m.t, bs[0], bs[1], "step %d (%s): batch %s differs", step, what, id)
		var want store.BatchCounts
		for _, item := range m.items[id] {
			j, err := m.stores[0].GetJob(ctx, item)
			require.NoError(m.t, err)
			want.Add(j.State, 1)
		}
		require.Equal(m.t, want, bs[0].Counts, "step %d (%s): batch %s counts its items wrong", step, what, id)
	}
}

func batchAnswer(js []store.Job, errs []error, err error) answer {
	a := answer{Jobs: js, Errs: []string{errClass(err)}}
	for _, e := range errs {
		a.Errs = append(a.Errs, errClass(e))
	}
	return a
}

// someRefs picks up to three attempts ever claimed: current, stale or
// ended ones alike, and sometimes one that never existed.
func (m *model) someRefs(r *rand.Rand) []store.AttemptRef {
	all := make([]store.AttemptRef, 0, len(m.seen))
	for ref := range m.seen {
		all = append(all, ref)
	}
	slices.SortFunc(all, func(a, b store.AttemptRef) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	var out []store.AttemptRef
	for range 1 + r.IntN(3) {
		switch {
		case len(all) == 0 || r.IntN(10) == 0:
			if len(m.jobs) > 0 {
				out = append(out, store.AttemptRef{JobID: m.jobs[r.IntN(len(m.jobs))], Attempt: 1 + r.IntN(4)})
			}
		default:
			ref := all[r.IntN(len(all))]
			if !slices.Contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	return out
}

// compare requires the jobs that pick selects and their attempts to read
// the same in both stores, and their counters to agree with their
// attempts.
func (m *model) compare(ctx context.Context, step int, what string, pick func(id string) bool) {
	for _, id := range m.jobs {
		if !pick(id) {
			continue
		}
		var jobs [2]store.Job
		var atts [2][]store.Attempt
		for i, s := range m.stores {
			j, err := s.GetJob(ctx, id)
			require.NoError(m.t, err)
			a, err := s.ListAttempts(ctx, id)
			require.NoError(m.t, err)
			jobs[i], atts[i] = j, a
		}
		require.Equal(m.t, jobs[0], jobs[1], "step %d (%s): job %s differs", step, what, id)
		require.Equal(m.t, atts[0], atts[1], "step %d (%s): attempts of %s differ", step, what, id)
		if jobs[0].State.Terminal() {
			m.ended++
		}
		// What the row says must agree with its attempts.
		var failures, lost int
		for _, a := range atts[0] {
			switch {
			case a.State.ScriptFailure():
				failures++
			case a.State == store.StateLost:
				lost++
			}
		}
		if m.retried[id] {
			continue // a retry starts the counters afresh and keeps the attempts
		}
		require.Equal(m.t, failures, jobs[0].ScriptFailures, "step %d (%s): job %s counts script failures wrong", step, what, id)
		require.Equal(m.t, lost, jobs[0].LostAttempts, "step %d (%s): job %s counts lost attempts wrong", step, what, id)
	}
}
