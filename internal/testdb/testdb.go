// Package testdb gives tests in any package a fresh database: a SQLite file
// in the test's temporary directory, or a new database on the PostgreSQL
// cluster named by RGRID_TEST_POSTGRES_URL (scripts/pg.sh starts one).
// Without that variable PostgreSQL tests skip, except under CI=true, where
// they fail.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/store"
)

// EnvPostgresURL names the variable holding a superuser URL of a running
// PostgreSQL cluster.
const EnvPostgresURL = "RGRID_TEST_POSTGRES_URL"

const missingPostgres = "PostgreSQL is required in CI: " + EnvPostgresURL + " is not set; run scripts/test.sh"

// SQLiteURL returns the URL of a new SQLite file in t.TempDir().
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "rgrid.db")
}

// PostgresURL creates a database with a random name on the cluster at
// RGRID_TEST_POSTGRES_URL, drops it when the test ends, and returns its URL.
// Without the variable it skips the test, or fails it when CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgresURL)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missingPostgres)
		}
		t.Skip(missingPostgres)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgresURL, err)
	}
	name := "rgrid_test_" + randomHex(t, 8)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The test's context is gone by now; dropping gets its own.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func adminExec(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", database.Redact(adminURL), err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return hex.EncodeToString(b)
}

// OpenSQLite returns a migrated store on a new SQLite file, closed when the
// test ends.
func OpenSQLite(t testing.TB) store.Store {
	t.Helper()
	return open(t, SQLiteURL(t))
}

// OpenPostgres returns a migrated store on a new PostgreSQL database,
// closed and dropped when the test ends.
func OpenPostgres(t testing.TB) store.Store {
	t.Helper()
	return open(t, PostgresURL(t))
}

func open(t testing.TB, dbURL string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := database.Open(ctx, dbURL, database.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open test database %s: %v", database.Redact(dbURL), err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close test store: %v", err)
		}
	})
	return s
}
