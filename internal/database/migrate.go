package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver for goose
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/rgrid/rgrid/internal/store/postgres"
	"github.com/rgrid/rgrid/internal/store/sqlite"
)

// ErrNothingToRollBack: Down found no applied migration.
var ErrNothingToRollBack = errors.New("no migration to roll back")

// Applied is one migration run by Up, UpTo or Down.
type Applied struct {
	Version   int64
	Source    string // file name, e.g. 00002_job_network.sql
	Direction string // "up" or "down"
	Duration  time.Duration
}

// MigrationStatus is one embedded migration and whether it is applied.
type MigrationStatus struct {
	Version   int64
	Source    string
	Applied   bool
	AppliedAt time.Time // zero when not applied
	// Compatible: the file carries CompatibleMark, so replicas of the
	// binary before it run on against the migrated schema.
	Compatible bool
	// Newer: applied by a newer binary; this one does not have the file
	// (Source is empty).
	Newer bool
}

// Migrator applies the embedded migrations of the URL's dialect with goose.
type Migrator struct {
	dialect string
	dbURL   string
	db      *sql.DB
	p       *goose.Provider
	marks   map[int64]bool // the embedded migrations marked compatible
}

// NewMigrator connects to dbURL for migrating. Close it when done.
func NewMigrator(ctx context.Context, dbURL string) (*Migrator, error) {
	t, err := parse(dbURL)
	if err != nil {
		return nil, err
	}
	m, err := newMigrator(t, dbURL)
	if err != nil {
		return nil, err
	}
	if err := m.db.PingContext(ctx); err != nil {
		m.Close()
		return nil, fmt.Errorf("connect to %s: %w", Redact(dbURL), err)
	}
	return m, nil
}

func newMigrator(t target, dbURL string) (*Migrator, error) {
	if err := t.ensureDir(); err != nil {
		return nil, err
	}
	var (
		db      *sql.DB
		err     error
		dialect goose.Dialect
		opts    = []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	)
	fsys := sqlite.Migrations()
	switch t.dialect {
	case DialectPostgres:
		db, err = sql.Open("pgx", t.dsn)
		dialect, fsys = goose.DialectPostgres, postgres.Migrations()
		// Server replicas started together with --migrate take turns.
		locker, lerr := lock.NewPostgresSessionLocker()
		if lerr != nil {
			return nil, fmt.Errorf("migrations lock: %w", lerr)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		db, err = sql.Open(sqlite.DriverName, sqlite.DSN(t.dsn))
		dialect = goose.DialectSQLite3
		if err == nil {
			// Each transaction is BEGIN IMMEDIATE, so processes migrating
			// one file at once wait for each other.
			db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Redact(dbURL), err)
	}
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	names := map[int64]string{}
	for _, src := range p.ListSources() {
		names[src.Version] = path.Base(src.Path)
	}
	marks, err := compatibleMarks(fsys, names)
	if err != nil {
		_ = p.Close() // the load failed; nothing to report of the close
		return nil, err
	}
	return &Migrator{dialect: t.dialect, dbURL: dbURL, db: db, p: p, marks: marks}, nil
}

// Dialect returns DialectPostgres or DialectSQLite.
func (m *Migrator) Dialect() string { return m.dialect }

// Close closes the connection.
func (m *Migrator) Close() error { return m.p.Close() }

// Version returns the database's schema version and the newest one this
// binary embeds.
func (m *Migrator) Version(ctx context.Context) (current, latest int64, err error) {
	current, latest, err = m.p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version of %s: %w", Redact(m.dbURL), err)
	}
	return current, latest, nil
}

// Up applies every pending migration. It refuses a database that is ahead
// of this binary with *SchemaAheadError.
func (m *Migrator) Up(ctx context.Context) ([]Applied, error) {
	if ahead, err := m.refuseAhead(ctx); err != nil || ahead {
		return nil, err
	}
	res, err := m.p.Up(ctx)
	return m.recorded(ctx)(m.results(res, err, "migrate up"))
}

// recorded records the marks after a migration run, keeping its results.
func (m *Migrator) recorded(ctx context.Context) func([]Applied, error) ([]Applied, error) {
	return func(a []Applied, err error) ([]Applied, error) {
		if merr := m.recordMarks(ctx); err == nil {
			err = merr
		}
		return a, err
	}
}

// UpTo applies pending migrations up to and including version.
func (m *Migrator) UpTo(ctx context.Context, version int64) ([]Applied, error) {
	if ahead, err := m.refuseAhead(ctx); err != nil || ahead {
		return nil, err
	}
	res, err := m.p.UpTo(ctx, version)
	return m.recorded(ctx)(m.results(res, err, fmt.Sprintf("migrate up to %d", version)))
}

// Down rolls back the newest applied migration, or gives
// ErrNothingToRollBack.
func (m *Migrator) Down(ctx context.Context) (Applied, error) {
	res, err := m.p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return Applied{}, fmt.Errorf("migrate down %s: %w", Redact(m.dbURL), ErrNothingToRollBack)
	}
	applied, err := m.recorded(ctx)(m.results([]*goose.MigrationResult{res}, err, "migrate down"))
	if err != nil {
		return Applied{}, err
	}
	return applied[0], nil
}

// Status lists the embedded migrations, oldest first, and which are
// applied.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	st, err := m.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status of %s: %w", Redact(m.dbURL), err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{
			Version:    s.Source.Version,
			Source:     path.Base(s.Source.Path),
			Applied:    s.State == goose.StateApplied,
			AppliedAt:  s.AppliedAt,
			Compatible: m.marks[s.Source.Version],
		})
	}
	newer, err := m.newer(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status of %s: %w", Redact(m.dbURL), err)
	}
	return append(out, newer...), nil
}

// newer lists the applied migrations past this binary's newest, which a
// newer binary applied, with their marks where it recorded them.
func (m *Migrator) newer(ctx context.Context) ([]MigrationStatus, error) {
	_, latest, err := m.Version(ctx)
	if err != nil {
		return nil, err
	}
	// Only the newest row of a version counts (goose keeps a row per up
	// and down); the marks table may be missing (no binary recorded any).
	q := `SELECT g.version_id, g.is_applied, g.tstamp FROM goose_db_version g
		WHERE g.version_id > $1 ORDER BY g.version_id, g.id`
	if m.dialect == DialectSQLite {
		q = strings.Replace(q, "$1", "?", 1)
	}
	rows, err := m.db.QueryContext(ctx, q, latest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MigrationStatus
	for rows.Next() {
		var s MigrationStatus
		var applied bool
		if err := rows.Scan(&s.Version, &applied, &s.AppliedAt); err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].Version == s.Version {
			out = out[:n-1]
		}
		if applied {
			s.Applied, s.Newer = true, true
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	// Without a marks table, ok is false and bad empty: nothing is
	// known compatible.
	ok, bad, err := m.aheadCompatible(ctx, latest)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Compatible = ok || len(bad) > 0 && !slices.Contains(bad, out[i].Version)
	}
	return out, nil
}

// refuseAhead is a *SchemaAheadError for a database migrated past this
// binary through a migration not marked compatible; ahead says it is past
// this binary through compatible ones only (there is nothing to apply).
func (m *Migrator) refuseAhead(ctx context.Context) (ahead bool, err error) {
	cur, latest, err := m.Version(ctx)
	if err != nil {
		return false, err
	}
	if err := m.checkAhead(ctx, cur, latest); err != nil {
		return false, err
	}
	return cur > latest, nil
}

// results converts goose's results, keeping those that ran before an error.
func (m *Migrator) results(res []*goose.MigrationResult, err error, what string) ([]Applied, error) {
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		res = partial.Applied
	}
	out := make([]Applied, 0, len(res))
	for _, r := range res {
		if r == nil || r.Error != nil {
			continue
		}
		out = append(out, Applied{
			Version:   r.Source.Version,
			Source:    path.Base(r.Source.Path),
			Direction: r.Direction,
			Duration:  r.Duration,
		})
	}
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", what, Redact(m.dbURL), err)
	}
	return out, nil
}
