package database_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/store/sqlite"
)

func TestDialect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		url, want string
	}{
		{"postgres://u:p@h:5432/db?sslmode=disable", database.DialectPostgres},
		{"postgresql://h/db", database.DialectPostgres},
		{"sqlite://" + filepath.Join(dir, "a", "x.db"), database.DialectSQLite},
		{"file:" + filepath.Join(dir, "b", "y.db") + "?cache=shared", database.DialectSQLite},
		{"file://" + filepath.Join(dir, "c", "z.db"), database.DialectSQLite},
		{filepath.Join(dir, "d", "w.sqlite"), database.DialectSQLite},
		{filepath.Join(dir, "e", "v.db"), database.DialectSQLite},
	}
	for _, tt := range tests {
		got, err := database.Dialect(tt.url)
		require.NoError(t, err, tt.url)
		require.Equal(t, tt.want, got, tt.url)
	}
	for _, bad := range []string{"", "mysql://h/db", "rgrid.txt", "sqlite://"} {
		_, err := database.Dialect(bad)
		require.Error(t, err, bad)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "rgrid")
	for _, u := range []string{"sqlite://" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")} {
		s, err := database.Open(t.Context(), u, database.Options{Migrate: true})
		require.NoError(t, err, u)
		require.Equal(t, database.DialectSQLite, s.Dialect())
		require.NoError(t, s.Close())
	}
	require.FileExists(t, filepath.Join(dir, "a.db"))
	require.FileExists(t, filepath.Join(dir, "b.db"))
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db", "postgres://h/db"},
		{"postgres://u:p%zz@h/db", "postgres://u:xxxxx@h/db"},
		{"sqlite:///var/lib/rgrid.db", "sqlite:///var/lib/rgrid.db"},
		{"/tmp/x.db", "/tmp/x.db"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, database.Redact(tt.in), tt.in)
	}
}

// TestCreate: a new migration gets one number in both dialects, one past
// the newest of either, even when one dialect's files lag behind.
func TestCreate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range database.Dialects {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d, "migrations"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, d, "migrations", "00001_init.sql"), nil, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "postgres", "migrations", "00007_jump.sql"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "sqlite", "migrations", "README.md"), nil, 0o644))

	paths, err := database.Create(root, "Add Users table!", false)
	require.NoError(t, err)
	require.Equal(t, []string{
		filepath.Join(root, "sqlite", "migrations", "00008_add_users_table.sql"),
		filepath.Join(root, "postgres", "migrations", "00008_add_users_table.sql"),
	}, paths)
	for _, p := range paths {
		body, err := os.ReadFile(p)
		require.NoError(t, err)
		require.True(t, strings.Contains(string(body), "-- +goose Up") && strings.Contains(string(body), "-- +goose Down"), string(body))
		require.NotContains(t, strings.Split(string(body), "\n"), database.CompatibleMark, "an unmarked migration says it is compatible")
	}
	paths, err = database.Create(root, "next", true)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "postgres", "migrations", "00009_next.sql"), paths[1])
	for _, p := range paths {
		body, err := os.ReadFile(p)
		require.NoError(t, err)
		head, _, _ := strings.Cut(string(body), "-- +goose Up")
		require.Contains(t, strings.Split(head, "\n"), database.CompatibleMark, "--compatible wrote no mark above +goose Up")
	}
	// goose runs the template: no comment of it reads as an annotation.
	fresh := t.TempDir()
	body, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(fresh, "00001_next.sql"), body, 0o644))
	db, err := sql.Open(sqlite.DriverName, sqlite.DSN(filepath.Join(t.TempDir(), "goose.db")))
	require.NoError(t, err)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, os.DirFS(fresh))
	require.NoError(t, err)
	_, err = p.Up(t.Context())
	require.NoError(t, err)

	// A clash in one dialect (here a directory in the way) writes neither
	// file.
	require.NoError(t, os.Mkdir(filepath.Join(root, "postgres", "migrations", "00010_clash.sql"), 0o755))
	_, err = database.Create(root, "clash", false)
	require.Error(t, err)
	_, err = os.Stat(filepath.Join(root, "sqlite", "migrations", "00010_clash.sql"))
	require.ErrorIs(t, err, os.ErrNotExist, "the sqlite file stayed behind")

	_, err = database.Create(root, "!!!", false)
	require.Error(t, err)
	_, err = database.Create(filepath.Join(root, "missing"), "x", false)
	require.Error(t, err)
}
