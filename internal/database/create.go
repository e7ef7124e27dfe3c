package database

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// migrationFile matches goose's numbered file names, e.g. 00002_job_network.sql.
var migrationFile = regexp.MustCompile(`^(\d+)_.*\.sql$`)

const migrationTemplate = `-- %s (%s). Every migration exists in both dialects under one number:
-- where this dialect needs nothing, leave the file a no-op.
--
-- A migration that only adds (a nullable column, a table, an index built
-- CONCURRENTLY on PostgreSQL, outside a transaction: goose's NO
-- TRANSACTION annotation) lets the replicas of the binary before it run on
-- beside it during a rolling upgrade, once marked with a line of its own
-- reading rgrid:compatible after the two dashes, above the Up annotation,
-- in both dialects' files ("rgrid migrate create --compatible" writes it).
%s
-- +goose Up
-- +goose StatementBegin
SELECT 'up SQL query';
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
SELECT 'down SQL query';
-- +goose StatementEnd
`

// Dialects are the dialects every migration exists in, each in
// root/<dialect>/migrations.
var Dialects = []string{DialectSQLite, DialectPostgres}

// Create writes one empty goose SQL migration named after name for each
// dialect, in root/<dialect>/migrations, under one number: one past the
// newest of either, so that a schema version means the same on both. It
// returns the paths written. Nothing is written if either file would
// clash. With compatible, both files carry CompatibleMark.
func Create(root, name string, compatible bool) ([]string, error) {
	slug := slugify(name)
	if slug == "" {
		return nil, errors.New("create migration: name must contain a letter or digit")
	}
	var last int64
	for _, d := range Dialects {
		v, err := newestMigration(filepath.Join(root, d, "migrations"))
		if err != nil {
			return nil, fmt.Errorf("create migration: %w", err)
		}
		last = max(last, v)
	}
	file := fmt.Sprintf("%05d_%s.sql", last+1, slug)
	var paths []string
	for _, d := range Dialects {
		p := filepath.Join(root, d, "migrations", file)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			mark := ""
			if compatible {
				mark = CompatibleMark + "\n"
			}
			_, err = fmt.Fprintf(f, migrationTemplate, slug, d, mark)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			for _, done := range paths {
				_ = os.Remove(done)
			}
			return nil, fmt.Errorf("create migration %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// newestMigration returns the highest migration number in dir, 0 if none.
func newestMigration(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var last int64
	for _, e := range entries {
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		if v, err := strconv.ParseInt(m[1], 10, 64); err == nil && v > last {
			last = v
		}
	}
	return last, nil
}

// slugify lowercases name and turns runs of other characters into one '_'.
func slugify(name string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			sep = false
		} else {
			sep = true
		}
	}
	return b.String()
}
