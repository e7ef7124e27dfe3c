package testdb

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/rgrid/rgrid/internal/store/sqlite"
)

// DumpContains reads every row of every table of the database at dbURL (a
// postgres:// URL, or a SQLite file path or sqlite:// URL) and returns the
// tables, sorted, where some column holds needle: as it is, in hex, or in
// base64 (at any alignment), so that a value kept in clear inside a JSON
// []byte field or a bytea is found too. A test proves with it that a
// secret (a job's secret value, an API token) is stored nowhere in clear:
// use a needle of random letters and digits, at least 12 bytes long.
func DumpContains(t testing.TB, dbURL, needle string) []string {
	t.Helper()
	if len(needle) < 12 {
		t.Fatalf("DumpContains: needle %q is too short to find without false alarms; use 12 or more random characters", needle)
	}
	driver, dsn, listTables := sqlite.DriverName, sqlite.DSN(strings.TrimPrefix(dbURL, "sqlite://")),
		`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://") {
		driver, dsn, listTables = "pgx", dbURL,
			`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("DumpContains: open: %v", err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.QueryContext(t.Context(), listTables)
	if err != nil {
		t.Fatalf("DumpContains: list tables: %v", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatalf("DumpContains: list tables: %v", err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		t.Fatalf("DumpContains: list tables: %v", err)
	}
	if len(tables) == 0 {
		t.Fatalf("DumpContains: the database at %s has no tables", dbURL)
	}
	forms := needleForms(needle)
	var found []string
	for _, table := range tables {
		if tableContains(t, db, table, forms) {
			found = append(found, table)
		}
	}
	slices.Sort(found)
	return found
}

func tableContains(t testing.TB, db *sql.DB, table string, forms [][]byte) bool {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT * FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`)
	if err != nil {
		t.Fatalf("DumpContains: read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatalf("DumpContains: read %s: %v", table, err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	hit := false
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("DumpContains: read %s: %v", table, err)
		}
		for _, v := range vals {
			var b []byte
			switch x := v.(type) {
			case nil:
				continue
			case []byte:
				b = x
			case string:
				b = []byte(x)
			default:
				b = fmt.Append(nil, x)
			}
			for _, f := range forms {
				if bytes.Contains(b, f) {
					hit = true
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("DumpContains: read %s: %v", table, err)
	}
	return hit
}

// needleForms are the byte strings that betray needle: itself, its hex,
// and the part of its base64 that does not depend on what surrounds it,
// for each of the three alignments.
func needleForms(needle string) [][]byte {
	n := []byte(needle)
	forms := [][]byte{n, []byte(hex.EncodeToString(n)), []byte(strings.ToUpper(hex.EncodeToString(n)))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for off := range 3 {
			e := enc.EncodeToString(append(make([]byte, off), n...))
			// Drop the group holding the padding bytes, and the last group
			// (it may hold bytes that follow).
			start := 0
			if off > 0 {
				start = 4
			}
			if end := len(e) - 4; end-start >= 8 {
				forms = append(forms, []byte(e[start:end]))
			}
		}
	}
	return forms
}
