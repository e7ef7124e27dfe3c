// Package database turns a database URL into a ready store.Store: it picks
// the dialect, checks or applies the embedded migrations, and opens the
// store. It also backs `rgrid migrate` (Migrator, Create).
//
// Accepted URLs: postgres://… and postgresql://… for PostgreSQL;
// sqlite:///abs/path.db, sqlite://relative.db, file:path.db, or a bare path
// ending in .db, .sqlite or .sqlite3 for SQLite.
package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/store/postgres"
	"github.com/rgrid/rgrid/internal/store/sqlite"
)

// Dialect names, as store.Store.Dialect returns them.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Options tune Open.
type Options struct {
	// Migrate applies pending migrations before opening. Without it, Open
	// refuses a database whose schema is behind this binary.
	Migrate bool
	// Logger, if set, hears about each migration applied.
	Logger *slog.Logger
}

// Open opens the store at dbURL. A database whose schema is newer than this
// binary knows gives *SchemaAheadError; one that is behind gives
// *SchemaBehindError unless opts.Migrate is set.
func Open(ctx context.Context, dbURL string, opts Options) (store.Store, error) {
	t, err := parse(dbURL)
	if err != nil {
		return nil, err
	}
	if err := prepare(ctx, t, dbURL, opts); err != nil {
		return nil, err
	}
	switch t.dialect {
	case DialectPostgres:
		return postgres.Open(ctx, t.dsn)
	default:
		return sqlite.Open(ctx, t.dsn)
	}
}

// prepare checks the schema version and migrates when asked to.
func prepare(ctx context.Context, t target, dbURL string, opts Options) error {
	m, err := newMigrator(t, dbURL)
	if err != nil {
		return err
	}
	defer m.Close()
	if opts.Migrate {
		applied, err := m.Up(ctx)
		for _, a := range applied {
			if opts.Logger != nil {
				opts.Logger.InfoContext(ctx, "applied migration",
					"version", a.Version, "source", a.Source, "duration", a.Duration)
			}
		}
		return err
	}
	cur, latest, err := m.Version(ctx)
	if err != nil {
		return err
	}
	if cur > latest {
		if err := m.checkAhead(ctx, cur, latest); err != nil {
			return err
		}
		if opts.Logger != nil {
			opts.Logger.WarnContext(ctx, "database schema is ahead of this binary through compatible migrations only; running on (upgrade this replica soon)",
				"schema", cur, "binary", latest)
		}
		return nil
	}
	return checkVersion(cur, latest, dbURL)
}

func checkVersion(cur, latest int64, dbURL string) error {
	switch {
	case cur > latest:
		return &SchemaAheadError{Current: cur, Latest: latest, DBURL: Redact(dbURL)}
	case cur < latest:
		return &SchemaBehindError{Current: cur, Latest: latest, DBURL: Redact(dbURL)}
	}
	return nil
}

// Dialect returns DialectPostgres or DialectSQLite for dbURL.
func Dialect(dbURL string) (string, error) {
	t, err := parse(dbURL)
	if err != nil {
		return "", err
	}
	return t.dialect, nil
}

// target is a parsed database URL: the dialect, and the postgres URL or the
// SQLite file path.
type target struct {
	dialect string
	dsn     string
}

func parse(dbURL string) (target, error) {
	lower := strings.ToLower(dbURL)
	switch {
	case dbURL == "":
		return target{}, errors.New("no database URL given")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return target{dialect: DialectPostgres, dsn: dbURL}, nil
	case strings.HasPrefix(lower, "sqlite://"):
		p, _, _ := strings.Cut(dbURL[len("sqlite://"):], "?")
		return sqliteTarget(p)
	case strings.HasPrefix(lower, "file://"):
		u, err := url.Parse(dbURL)
		if err != nil {
			return target{}, fmt.Errorf("parse database URL %q: %w", Redact(dbURL), err)
		}
		return sqliteTarget(u.Path)
	case strings.HasPrefix(lower, "file:"):
		p, _, _ := strings.Cut(dbURL[len("file:"):], "?")
		return sqliteTarget(p)
	case strings.Contains(dbURL, "://"):
		return target{}, fmt.Errorf("unsupported database URL %q: want postgres://…, sqlite://PATH or a path ending in .db", Redact(dbURL))
	}
	ext := strings.ToLower(filepath.Ext(dbURL))
	if ext == ".db" || ext == ".sqlite" || ext == ".sqlite3" {
		return sqliteTarget(dbURL)
	}
	return target{}, fmt.Errorf("unsupported database URL %q: want postgres://…, sqlite://PATH or a path ending in .db", dbURL)
}

func sqliteTarget(path string) (target, error) {
	if path == "" {
		return target{}, errors.New("sqlite database URL has no file path")
	}
	return target{dialect: DialectSQLite, dsn: path}, nil
}

// ensureDir creates the directory of a SQLite file, so that a first
// `rgrid run` works in a fresh data directory.
func (t target) ensureDir() error {
	if t.dialect != DialectSQLite {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(t.dsn), 0o750); err != nil {
		return fmt.Errorf("create directory for %s: %w", t.dsn, err)
	}
	return nil
}

// Redact returns dbURL with any password replaced by "xxxxx", for printing.
func Redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return redactByHand(dbURL)
	}
	if u.User == nil {
		return dbURL
	}
	if _, ok := u.User.Password(); !ok {
		return dbURL
	}
	return u.Redacted()
}

// redactByHand masks the password of a URL that net/url cannot parse (a
// password with a stray '%', say).
func redactByHand(dbURL string) string {
	_, rest, ok := strings.Cut(dbURL, "://")
	if !ok {
		return dbURL
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return dbURL
	}
	start := len(dbURL) - len(rest)
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return dbURL
	}
	return dbURL[:start] + user + ":xxxxx" + rest[at:]
}
