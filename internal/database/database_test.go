package database_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/database"
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

func TestCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00001_init.sql"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00007_jump.sql"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), nil, 0o644))

	p, err := database.Create(dir, "Add Users table!", database.DialectPostgres)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "00008_add_users_table.sql"), p)
	body, err := os.ReadFile(p)
	require.NoError(t, err)
	require.True(t, strings.Contains(string(body), "-- +goose Up") && strings.Contains(string(body), "-- +goose Down"), string(body))

	p, err = database.Create(dir, "next", database.DialectSQLite)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "00009_next.sql"), p)

	_, err = database.Create(dir, "!!!", database.DialectSQLite)
	require.Error(t, err)
	_, err = database.Create(dir, "x", "mysql")
	require.Error(t, err)
	_, err = database.Create(filepath.Join(dir, "missing"), "x", database.DialectSQLite)
	require.Error(t, err)
}
