package database

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// CompatibleMark is the comment, on a line of its own before "-- +goose
// Up", that marks a migration backward-compatible: replicas of the binary
// before it run on against the migrated schema (it only adds: a nullable
// column, a table, an index built concurrently on PostgreSQL). Both
// dialects' files of one number carry it or neither does.
const CompatibleMark = "-- rgrid:compatible"

// marksTable records, for every migration applied, whether it is
// compatible: a binary reads there the marks of migrations newer than
// itself, which it does not embed.
const marksTable = "rgrid_migration_marks"

// compatibleMarks reads the marks of the embedded migrations, by version.
func compatibleMarks(fsys fs.FS, versions map[int64]string) (map[int64]bool, error) {
	out := map[int64]bool{}
	for v, name := range versions {
		f, err := fsys.Open(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "-- +goose Up") {
				break
			}
			if line == CompatibleMark {
				out[v] = true
			}
		}
		_ = f.Close() // read only
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
	}
	return out, nil
}

// recordMarks writes the marks of every embedded migration applied, and
// drops those of versions no longer applied that this binary embeds.
func (m *Migrator) recordMarks(ctx context.Context) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record migration marks: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if m.dialect == DialectPostgres {
		// Replicas started together with --migrate take turns: two
		// concurrent CREATE TABLE IF NOT EXISTS can collide.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7210471823)`); err != nil {
			return fmt.Errorf("record migration marks: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+marksTable+` (
		version BIGINT PRIMARY KEY, compatible BOOLEAN NOT NULL)`); err != nil {
		return fmt.Errorf("record migration marks: %w", err)
	}
	for _, s := range st {
		if s.Newer {
			continue // the binary that applied it recorded its mark
		}
		q, args := `DELETE FROM `+marksTable+` WHERE version = $1`, []any{s.Version}
		if s.Applied {
			q, args = `INSERT INTO `+marksTable+` (version, compatible) VALUES ($1, $2)
				ON CONFLICT (version) DO UPDATE SET compatible = excluded.compatible`, []any{s.Version, s.Compatible}
		}
		if m.dialect == DialectSQLite {
			q = strings.NewReplacer("$1", "?", "$2", "?").Replace(q)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("record migration marks: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record migration marks: %w", err)
	}
	return nil
}

// aheadCompatible says whether every applied migration newer than latest
// is marked compatible, and lists those that are not (empty when the marks
// are missing altogether: a binary that predates them migrated).
func (m *Migrator) aheadCompatible(ctx context.Context, latest int64) (bool, []int64, error) {
	q := `SELECT DISTINCT g.version_id, coalesce(k.compatible, false)
		FROM goose_db_version g LEFT JOIN ` + marksTable + ` k ON k.version = g.version_id
		WHERE g.version_id > $1 AND g.is_applied`
	if m.dialect == DialectSQLite {
		q = strings.Replace(q, "$1", "?", 1)
	}
	rows, err := m.db.QueryContext(ctx, q, latest)
	if err != nil {
		return false, nil, nil //nolint:nilerr // no marks table: nothing is known compatible
	}
	defer rows.Close()
	var bad []int64
	for rows.Next() {
		var v int64
		var ok bool
		if err := rows.Scan(&v, &ok); err != nil {
			return false, nil, err
		}
		if !ok {
			bad = append(bad, v)
		}
	}
	if err := rows.Err(); err != nil {
		return false, nil, err
	}
	slices.Sort(bad)
	return len(bad) == 0, bad, nil
}

// checkAhead is nil when the database is at most one of compatible
// migrations ahead of this binary, a *SchemaAheadError otherwise.
func (m *Migrator) checkAhead(ctx context.Context, cur, latest int64) error {
	if cur <= latest {
		return nil
	}
	ok, bad, err := m.aheadCompatible(ctx, latest)
	if err != nil {
		return fmt.Errorf("schema marks of %s: %w", Redact(m.dbURL), err)
	}
	if ok {
		return nil
	}
	return &SchemaAheadError{Current: cur, Latest: latest, DBURL: Redact(m.dbURL), Incompatible: bad}
}
