package database_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	. "github.com/rgrid/rgrid/internal/database" //nolint:revive // the test reads like the package
	"github.com/rgrid/rgrid/internal/testdb"
)

// A replica accepts a schema ahead of it when every migration it lacks is
// marked compatible, and refuses it, naming them and the fix, otherwise.
func TestSchemaAheadThroughCompatibleMigrations(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dbURL string) {
		ctx := t.Context()
		m := newMigrator(t, dbURL)
		_, err := m.Up(ctx)
		require.NoError(t, err)

		status, err := m.Status(ctx)
		require.NoError(t, err)
		marks := map[string]bool{}
		for _, s := range status {
			marks[s.Source] = s.Compatible
		}
		require.True(t, marks["00015_leader_leases.sql"], "a new table is compatible")
		require.False(t, marks["00002_job_network.sql"], "an unmarked migration is not")

		// What a newer binary leaves: a migration applied past this one,
		// with its mark.
		ph := func(q string) string {
			if m.Dialect() == DialectSQLite {
				return strings.NewReplacer("$1", "?", "$2", "?").Replace(q)
			}
			return q
		}
		applyNewer := func(version int64, compatible bool) {
			_, err := m.DB().ExecContext(ctx, ph(`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`), version)
			require.NoError(t, err)
			_, err = m.DB().ExecContext(ctx, ph(`INSERT INTO `+MarksTable+` (version, compatible) VALUES ($1, $2)`), version, compatible)
			require.NoError(t, err)
		}
		applyNewer(1001, true)
		for _, migrate := range []bool{false, true} {
			st, err := Open(ctx, dbURL, Options{Migrate: migrate})
			require.NoError(t, err, "migrate %v: a schema ahead through compatible migrations only", migrate)
			st.Close()
		}

		applyNewer(1002, false)
		// This binary's status lists what the newer one applied.
		status, err = m.Status(ctx)
		require.NoError(t, err)
		var newer []MigrationStatus
		for _, s := range status {
			if s.Newer {
				newer = append(newer, s)
			}
		}
		require.Len(t, newer, 2)
		require.Equal(t, []int64{1001, 1002}, []int64{newer[0].Version, newer[1].Version})
		require.True(t, newer[0].Applied && newer[0].Compatible && !newer[0].AppliedAt.IsZero())
		require.False(t, newer[1].Compatible)
		for _, migrate := range []bool{false, true} {
			_, err = Open(ctx, dbURL, Options{Migrate: migrate})
			var ahead *SchemaAheadError
			require.True(t, errors.As(err, &ahead), "migrate %v: %v", migrate, err)
			require.Equal(t, []int64{1002}, ahead.Incompatible)
			require.Contains(t, ahead.Error(), "1002")
			require.Contains(t, ahead.Hint(), "rgrid migrate down")
		}
	})
}

// A database a binary without marks migrated past this one is refused.
func TestSchemaAheadWithoutMarks(t *testing.T) {
	t.Parallel()
	dbURL := testdb.SQLiteURL(t)
	m := newMigrator(t, dbURL)
	_, err := m.Up(t.Context())
	require.NoError(t, err)
	_, err = m.DB().ExecContext(t.Context(), `DROP TABLE `+MarksTable)
	require.NoError(t, err)
	_, err = m.DB().ExecContext(t.Context(), `INSERT INTO goose_db_version (version_id, is_applied) VALUES (1001, true)`)
	require.NoError(t, err)
	_, err = Open(t.Context(), dbURL, Options{})
	var ahead *SchemaAheadError
	require.True(t, errors.As(err, &ahead), "%v", err)
	status, err := m.Status(t.Context())
	require.NoError(t, err)
	last := status[len(status)-1]
	require.True(t, last.Newer && last.Applied && last.Version == 1001 && !last.Compatible, "%+v", last)
}
