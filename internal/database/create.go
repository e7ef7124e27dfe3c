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

const migrationTemplate = `-- %s (%s)

-- +goose Up
-- +goose StatementBegin
SELECT 'up SQL query';
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
SELECT 'down SQL query';
-- +goose StatementEnd
`

// Create writes an empty goose SQL migration named after name, numbered one
// past the newest in dir, and returns its path. dialect is DialectPostgres
// or DialectSQLite; it is recorded in the file's first line.
func Create(dir, name, dialect string) (string, error) {
	if dialect != DialectPostgres && dialect != DialectSQLite {
		return "", fmt.Errorf("create migration: unknown dialect %q (want %s or %s)", dialect, DialectPostgres, DialectSQLite)
	}
	slug := slugify(name)
	if slug == "" {
		return "", errors.New("create migration: name must contain a letter or digit")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("create migration: %w", err)
	}
	var last int64
	for _, e := range entries {
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if v, err := strconv.ParseInt(m[1], 10, 64); err == nil && v > last {
			last = v
		}
	}
	p := filepath.Join(dir, fmt.Sprintf("%05d_%s.sql", last+1, slug))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("create migration: %w", err)
	}
	if _, err := fmt.Fprintf(f, migrationTemplate, slug, dialect); err != nil {
		f.Close()
		return "", fmt.Errorf("create migration %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("create migration %s: %w", p, err)
	}
	return p, nil
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
