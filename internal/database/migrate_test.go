package database_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	. "github.com/rgrid/rgrid/internal/database" //nolint:revive // the test reads like the package
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/testdb"
)

// base is when the old jobs were created.
var base = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// eachDialect runs fn against a fresh, unmigrated database of each dialect.
func eachDialect(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, testdb.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, testdb.PostgresURL(t)) })
}

func newMigrator(t *testing.T, dbURL string) *Migrator {
	t.Helper()
	m, err := NewMigrator(t.Context(), dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// insertV1Jobs writes jobs the way a version-1 rgrid would have, with raw
// SQL, so the test does not depend on today's store code.
func insertV1Jobs(t *testing.T, m *Migrator, n int) {
	t.Helper()
	for i := range n {
		var q string
		switch m.Dialect() {
		case DialectSQLite:
			q = fmt.Sprintf(`INSERT INTO jobs (id, state, file_name, script, script_size,
				args, runtime, env, max_attempts, created_at)
				VALUES ('old-%d', 'queued', 'old.py', X'FFFE0001', 4, '["a","%d"]',
				'python3.11', '{"K":"%d"}', 2, %d)`, i, i, i, base.Add(time.Duration(i)*time.Second).UnixNano())
		default:
			q = fmt.Sprintf(`INSERT INTO jobs (id, state, file_name, script, script_size,
				args, runtime, env, max_attempts, created_at)
				VALUES ('old-%d', 'queued', 'old.py', '\xfffe0001'::bytea, 4, '["a","%d"]',
				'python3.11', '{"K":"%d"}', 2, '%s'::timestamptz + %d * interval '1 second')`,
				i, i, i, base.Format(time.RFC3339), i)
		}
		_, err := m.DB().ExecContext(t.Context(), q)
		require.NoError(t, err)
	}
}

// checkOldJobs opens the store and checks every old job is intact.
func checkOldJobs(t *testing.T, dbURL string, n int) {
	t.Helper()
	s, err := Open(t.Context(), dbURL, Options{})
	require.NoError(t, err)
	defer s.Close()
	jobs, err := s.ListJobs(t.Context(), store.ListJobsParams{Limit: 100})
	require.NoError(t, err)
	require.Len(t, jobs, n)
	for i, j := range jobs {
		k := n - 1 - i // newest first
		require.Equal(t, fmt.Sprintf("old-%d", k), j.ID)
		require.Equal(t, store.StateQueued, j.State)
		require.Equal(t, []string{"a", fmt.Sprint(k)}, j.Args)
		require.Equal(t, map[string]string{"K": fmt.Sprint(k)}, j.Env)
		require.Equal(t, int64(4), j.ScriptSize)
		require.Equal(t, 2, j.MaxAttempts)
		require.False(t, j.Network, "jobs from before 00002 have no network")
		require.Zero(t, j.Retries, "jobs from before 00003 are not retried")
		require.Equal(t, base.Add(time.Duration(k)*time.Second), j.CreatedAt)
	}
}

// checkOldScripts claims the old jobs and checks their scripts' bytes.
func checkOldScripts(t *testing.T, dbURL string, n int) {
	t.Helper()
	s, err := Open(t.Context(), dbURL, Options{})
	require.NoError(t, err)
	defer s.Close()
	jobs, err := s.ClaimJobs(t.Context(), store.ClaimParams{WorkerID: "w", Max: n + 1, Now: base})
	require.NoError(t, err)
	require.Len(t, jobs, n)
	for _, j := range jobs {
		require.Equal(t, []byte{0xff, 0xfe, 0, 1}, j.Script)
	}
}

func TestMigrationKeepsData(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		m := newMigrator(t, dbURL)
		applied, err := m.UpTo(ctx, 1)
		require.NoError(t, err)
		require.Len(t, applied, 1)
		require.Equal(t, "00001_init.sql", applied[0].Source)
		status, err := m.Status(ctx)
		require.NoError(t, err)
		_, latest, err := m.Version(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, latest, int64(2), "the test needs a migration after the first")
		require.Equal(t, latest, status[len(status)-1].Version) // numbers may skip one reserved by a change not merged yet
		require.True(t, status[0].Applied)
		require.False(t, status[0].AppliedAt.IsZero())
		require.False(t, status[1].Applied)
		require.Equal(t, "00002_job_network.sql", status[1].Source, "00002 adds a column to a table holding data")
		for _, st := range status[1:] {
			require.False(t, st.Applied)
		}

		const n = 5
		insertV1Jobs(t, m, n)

		applied, err = m.Up(ctx)
		require.NoError(t, err)
		require.Len(t, applied, len(status)-1)
		require.Equal(t, int64(2), applied[0].Version)
		require.Equal(t, latest, applied[len(applied)-1].Version)
		checkOldJobs(t, dbURL, n)

		down, err := m.Down(ctx)
		require.NoError(t, err)
		require.Equal(t, Applied{Version: latest, Source: status[len(status)-1].Source, Direction: "down", Duration: down.Duration}, down)
		cur, _, err := m.Version(ctx)
		require.NoError(t, err)
		require.Equal(t, status[len(status)-2].Version, cur)
		var count int
		require.NoError(t, m.DB().QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&count))
		require.Equal(t, n, count)

		_, err = m.Up(ctx)
		require.NoError(t, err)
		checkOldJobs(t, dbURL, n)
		checkOldScripts(t, dbURL, n)

		// All the way down and up again on an empty schema.
		for range status {
			_, err = m.Down(ctx)
			require.NoError(t, err)
		}
		_, err = m.Down(ctx)
		require.ErrorIs(t, err, ErrNothingToRollBack)
		_, err = m.Up(ctx)
		require.NoError(t, err)
		cur, _, err = m.Version(ctx)
		require.NoError(t, err)
		require.Equal(t, latest, cur)
	})
}

func TestOpenChecksSchema(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		m := newMigrator(t, dbURL)
		_, latest, err := m.Version(ctx)
		require.NoError(t, err)
		_, err = Open(ctx, dbURL, Options{})
		var behind *SchemaBehindError
		require.ErrorAs(t, err, &behind)
		require.Equal(t, int64(0), behind.Current)
		require.Equal(t, latest, behind.Latest)

		_, err = m.UpTo(ctx, 1)
		require.NoError(t, err)
		_, err = Open(ctx, dbURL, Options{})
		require.ErrorAs(t, err, &behind)
		require.Equal(t, fmt.Sprintf("database schema is at version 1 but this rgrid needs %d", latest), behind.Error())
		require.Equal(t, `run "rgrid migrate up --db `+Redact(dbURL)+`" or start the server with --migrate`, behind.Hint())

		s, err := Open(ctx, dbURL, Options{Migrate: true})
		require.NoError(t, err)
		v, err := s.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, latest, v)
		require.NoError(t, s.Close())
		s, err = Open(ctx, dbURL, Options{})
		require.NoError(t, err)
		require.NoError(t, s.Close())

		// A newer rgrid applied migration 99.
		applied := "true"
		if m.Dialect() == DialectSQLite {
			applied = "1"
		}
		_, err = m.DB().ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, `+applied+`)`)
		require.NoError(t, err)
		for _, opts := range []Options{{}, {Migrate: true}} {
			_, err = Open(ctx, dbURL, opts)
			var ahead *SchemaAheadError
			require.ErrorAs(t, err, &ahead, "%+v", opts)
			require.Equal(t, int64(99), ahead.Current)
			require.Equal(t, latest, ahead.Latest)
			require.Contains(t, ahead.Error(), "newer than this rgrid binary knows")
			require.Contains(t, ahead.Hint(), "rgrid migrate down")
		}
		_, err = m.Up(ctx)
		require.True(t, errors.As(err, new(*SchemaAheadError)), "Up refuses too: %v", err)
	})
}

// TestMigration7MovesActiveAttempts: 00007 (both dialects) moves each
// active attempt from job_attempts into its job's row (the lease time) and
// keeps ended attempts; the attempts read the same before and after, the
// moved ones still take their results, and Down puts back a row for every
// latest attempt the job's row held. 00008 counts the attempts already
// lost or failed, so the rules of MaxAttempts and Retries go on from them.
func TestMigration7MovesActiveAttempts(t *testing.T) {
	t.Parallel()
	eachDialect(t, testMigration7)
}

func testMigration7(t *testing.T, dbURL string) {
	ctx := t.Context()
	m := newMigrator(t, dbURL)
	_, err := m.UpTo(ctx, 6)
	require.NoError(t, err)
	// Literals of each dialect: a one-byte script, and a time on
	// 2024-05-06 at 07:mm:ss.
	blob, ts := `'\x00'::bytea`, func(ms string) string { return "'2024-05-06T07:" + ms + "Z'" }
	if m.Dialect() == DialectSQLite {
		blob = `X'00'`
		ts = func(ms string) string {
			v, err := time.Parse(time.RFC3339, "2024-05-06T07:"+ms+"Z")
			require.NoError(t, err)
			return fmt.Sprint(v.UnixNano())
		}
	}
	// Jobs as version 6 left them: one running on its second attempt (the
	// first was lost), one leased, one succeeded, one queued again after
	// its script failed once (two retries).
	for _, q := range []string{
		`INSERT INTO jobs (id, state, file_name, script, script_size, runtime, created_at, attempt, worker_id, started_at, max_attempts, retries)
		 VALUES ('run', 'running', 'a.py', ` + blob + `, 1, 'python3.11', ` + ts("00:00") + `, 2, 'w1', ` + ts("03:00") + `, 2, 0),
		        ('lease', 'leased', 'a.py', ` + blob + `, 1, 'python3.11', ` + ts("00:00") + `, 1, 'w1', NULL, 2, 0),
		        ('done', 'succeeded', 'a.py', ` + blob + `, 1, 'python3.11', ` + ts("00:00") + `, 1, 'w2', ` + ts("01:00") + `, 1, 0),
		        ('retry', 'queued', 'a.py', ` + blob + `, 1, 'python3.11', ` + ts("00:00") + `, 1, '', NULL, 1, 2)`,
		`INSERT INTO job_attempts (job_id, number, worker_id, state, reason, leased_at, started_at, finished_at)
		 VALUES ('run', 1, 'w0', 'lost', 'worker_lost', ` + ts("00:01") + `, ` + ts("00:02") + `, ` + ts("01:00") + `),
		        ('run', 2, 'w1', 'running', '', ` + ts("02:00") + `, ` + ts("03:00") + `, NULL),
		        ('lease', 1, 'w1', 'leased', '', ` + ts("04:00") + `, NULL, NULL),
		        ('done', 1, 'w2', 'succeeded', '', ` + ts("00:30") + `, ` + ts("01:00") + `, ` + ts("02:00") + `),
		        ('retry', 1, 'w2', 'failed', 'exit_code', ` + ts("00:30") + `, ` + ts("01:00") + `, ` + ts("02:00") + `)`,
	} {
		_, err := m.DB().ExecContext(ctx, q)
		require.NoError(t, err)
	}
	s, err := Open(ctx, dbURL, Options{Migrate: true})
	require.NoError(t, err)
	defer s.Close()
	at := func(ms string) time.Time {
		v, err := time.Parse(time.RFC3339, "2024-05-06T07:"+ms+"Z")
		require.NoError(t, err)
		return v
	}
	ptr := func(t time.Time) *time.Time { return &t }
	atts, err := s.ListAttempts(ctx, "run")
	require.NoError(t, err)
	require.Equal(t, []store.Attempt{
		{JobID: "run", Number: 1, WorkerID: "w0", State: store.StateLost, Reason: "worker_lost",
			LeasedAt: at("00:01"), StartedAt: ptr(at("00:02")), FinishedAt: ptr(at("01:00"))},
		{JobID: "run", Number: 2, WorkerID: "w1", State: store.StateRunning,
			LeasedAt: at("02:00"), StartedAt: ptr(at("03:00"))},
	}, atts)
	stop, err := s.AttemptsToStop(ctx, "w1")
	require.NoError(t, err)
	require.Empty(t, stop)
	workers, err := s.ListWorkers(ctx)
	require.NoError(t, err)
	require.Empty(t, workers)
	for id, want := range map[string][2]int{"run": {0, 1}, "lease": {0, 0}, "done": {0, 0}, "retry": {1, 0}} {
		j, err := s.GetJob(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, [2]int{j.ScriptFailures, j.LostAttempts}, "job %s: script failures and lost attempts counted", id)
	}

	// The leased one is lost by a lease-time bound only the migrated time meets.
	lost, err := s.LoseAttempts(ctx, store.LoseParams{WorkerID: "w1", OnlyLeased: true,
		LeasedBefore: at("04:30"), Reason: "worker_lost", Message: "gone", Now: at("05:00")})
	require.NoError(t, err)
	require.Len(t, lost, 1)
	require.Equal(t, "lease", lost[0].ID)
	require.Equal(t, store.StateQueued, lost[0].State, "one lost attempt of two allowed: queued again")

	code := 0
	j, err := s.FinishAttempt(ctx, store.FinishParams{JobID: "run", Attempt: 2, State: store.StateSucceeded,
		ExitCode: &code, Now: at("06:00")})
	require.NoError(t, err)
	require.Equal(t, store.StateSucceeded, j.State)
	atts, err = s.ListAttempts(ctx, "run")
	require.NoError(t, err)
	require.Len(t, atts, 2)
	require.Equal(t, store.Attempt{JobID: "run", Number: 2, WorkerID: "w1", State: store.StateSucceeded,
		ExitCode: &code, LeasedAt: at("02:00"), StartedAt: ptr(at("03:00")), FinishedAt: ptr(at("06:00"))}, atts[1])
	atts, err = s.ListAttempts(ctx, "done")
	require.NoError(t, err)
	require.Len(t, atts, 1)
	require.Equal(t, store.StateSucceeded, atts[0].State)

	// The queued-again job: its second failure still has a retry left (two
	// of two), its third ends it.
	for n, want := range []store.State{store.StateQueued, store.StateFailed} {
		claimed, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: "w4", Max: 5, Now: at("06:10")})
		require.NoError(t, err)
		var job store.Job
		for _, c := range claimed {
			if c.ID == "retry" {
				job = c
			}
		}
		require.Equal(t, 2+n, job.Attempt, "retry claimed")
		exit := 1
		j, err := s.FinishAttempt(ctx, store.FinishParams{JobID: "retry", Attempt: job.Attempt,
			State: store.StateFailed, ExitCode: &exit, Started: true, Now: at("06:20")})
		require.NoError(t, err)
		require.Equal(t, want, j.State, "after failure %d", 2+n)
	}

	// Down: a job made active again after the migration (the lost one,
	// claimed again above) has its attempt row back, with its lease time.
	// Down to 6, through whatever came after 7.
	_, latest, err := m.Version(ctx)
	require.NoError(t, err)
	for v := latest; v > 6; {
		applied, err := m.Down(ctx)
		require.NoError(t, err)
		require.LessOrEqual(t, applied.Version, v) // numbers may skip one reserved by a change not merged yet
		v = applied.Version - 1
	}
	var (
		state  string
		leased = &storedTime{}
	)
	require.NoError(t, m.DB().QueryRowContext(ctx, `SELECT state, leased_at FROM job_attempts
		WHERE job_id = 'lease' AND number = 2`).Scan(&state, leased))
	require.Equal(t, "leased", state)
	require.True(t, at("06:10").Equal(leased.time()), "%v", leased.time())
	// And one that ended the job after it, recorded on the job alone.
	require.NoError(t, m.DB().QueryRowContext(ctx, `SELECT state, leased_at FROM job_attempts
		WHERE job_id = 'run' AND number = 2`).Scan(&state, leased))
	require.Equal(t, "succeeded", state)
	require.True(t, at("02:00").Equal(leased.time()), "%v", leased.time())
}

// storedTime scans a time column of either dialect: a timestamptz, or
// SQLite's unix nanoseconds.
type storedTime struct{ t time.Time }

func (s *storedTime) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		s.t = time.Unix(0, x).UTC()
	case time.Time:
		s.t = x
	default:
		return fmt.Errorf("scan a time from %T", v)
	}
	return nil
}

func (s *storedTime) time() time.Time { return s.t }

// Migration 22 moves each inputs manifest with a hash out of the job rows
// into manifests, once, and back on the way down; a manifest without a
// hash (a job from before 00019) stays in its row. Every job reads the
// same inputs before and after.
func TestMigration22StoresEachManifestOnce(t *testing.T) {
	t.Parallel()
	eachDialect(t, testMigration22)
}

func testMigration22(t *testing.T, dbURL string) {
	ctx := t.Context()
	m := newMigrator(t, dbURL)
	_, err := m.UpTo(ctx, 21)
	require.NoError(t, err)
	const shared = `{"entries":[{"path":"a.py","kind":"file","size":1,"sha256":"aa"}]}`
	const old = `{"entries":[{"path":"b.py","kind":"file","size":1,"sha256":"bb"}]}`
	blob, ts := `'\x00'::bytea`, `'2024-05-06T07:00:00Z'`
	if m.Dialect() == DialectSQLite {
		blob, ts = `X'00'`, fmt.Sprint(base.UnixNano())
	}
	_, err = m.DB().ExecContext(ctx, `INSERT INTO jobs (id, state, file_name, script, script_size, runtime, created_at, max_attempts, inputs, inputs_sha256)
		VALUES ('one', 'queued', 'a.py', `+blob+`, 1, 'python3.11', `+ts+`, 1, '`+shared+`', 'h1'),
		       ('two', 'queued', 'a.py', `+blob+`, 1, 'python3.11', `+ts+`, 1, '`+shared+`', 'h1'),
		       ('old', 'queued', 'b.py', `+blob+`, 1, 'python3.11', `+ts+`, 1, '`+old+`', NULL),
		       ('none', 'queued', 'c.py', `+blob+`, 1, 'python3.11', `+ts+`, 1, NULL, NULL)`)
	require.NoError(t, err)
	count := func(q string) int {
		var n int
		require.NoError(t, m.DB().QueryRowContext(ctx, q).Scan(&n))
		return n
	}
	_, err = m.UpTo(ctx, 22)
	require.NoError(t, err)
	require.Equal(t, 1, count(`SELECT count(*) FROM manifests`), "one manifest for the two jobs with it")
	require.Equal(t, 1, count(`SELECT count(*) FROM jobs WHERE inputs IS NOT NULL`), "only the one without a hash keeps its own")

	s, err := Open(ctx, dbURL, Options{})
	require.NoError(t, err)
	want := map[string]string{"one": shared, "two": shared, "old": old, "none": ""}
	for id, inputs := range want {
		f, err := s.JobFiles(ctx, id)
		require.NoError(t, err)
		require.Equal(t, inputs, string(f.Inputs), "the inputs of %s", id)
	}
	got, err := s.InputsByHash(ctx, "", "h1")
	require.NoError(t, err)
	require.Equal(t, shared, string(got))
	require.NoError(t, s.Close())

	_, err = m.Down(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, count(`SELECT count(*) FROM jobs WHERE inputs IS NOT NULL`), "down: every job holds its inputs again")
	var back string
	require.NoError(t, m.DB().QueryRowContext(ctx, `SELECT inputs FROM jobs WHERE id = 'two'`).Scan(&back))
	require.Equal(t, shared, back)
}
