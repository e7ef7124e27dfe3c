package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/store/sqlite"
	"github.com/rgrid/rgrid/internal/testdb"
)

const helperEnv = "RGRID_SQLITE_HELPER_DB"

// TestMultiProcess has several processes create and claim jobs in one file
// at once, as two `rgrid run` in embedded mode do: no write fails with
// "database is locked", and no job is claimed twice.
func TestMultiProcess(t *testing.T) {
	t.Parallel()
	dbURL := testdb.SQLiteURL(t)
	s := openMigrated(t, dbURL)
	path := strings.TrimPrefix(dbURL, "sqlite://")

	const procs, perProc = 4, 50
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*strings.Builder, procs)
	for i := range procs {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+path, fmt.Sprintf("RGRID_SQLITE_HELPER_ID=p%d", i),
			fmt.Sprintf("RGRID_SQLITE_HELPER_N=%d", perProc))
		outs[i] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		require.NoError(t, cmd.Start())
		cmds[i] = cmd
	}
	seen := map[string]string{}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), outs[i].String())
		for line := range strings.Lines(outs[i].String()) {
			id, ok := strings.CutPrefix(strings.TrimSpace(line), "claimed ")
			if !ok {
				continue
			}
			prev, dup := seen[id]
			require.False(t, dup, "job %s claimed by p%d and %s", id, i, prev)
			seen[id] = fmt.Sprintf("p%d", i)
		}
	}
	// Whatever the helpers left queued, claim here; every job is then
	// claimed exactly once.
	rest, err := s.ClaimJobs(t.Context(), store.ClaimParams{WorkerID: "parent", Max: procs * perProc, Now: time.Now()})
	require.NoError(t, err)
	for _, j := range rest {
		_, dup := seen[j.ID]
		require.False(t, dup, j.ID)
		seen[j.ID] = "parent"
	}
	require.Len(t, seen, procs*perProc)
}

// TestHelperProcess is one process of TestMultiProcess.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("run by TestMultiProcess")
	}
	id := os.Getenv("RGRID_SQLITE_HELPER_ID")
	n, err := strconv.Atoi(os.Getenv("RGRID_SQLITE_HELPER_N"))
	require.NoError(t, err)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	for i := range n {
		_, err := s.CreateJob(ctx, store.NewJob{ID: fmt.Sprintf("%s-%d", id, i), Script: []byte("x"),
			FileName: "x.py", Runtime: "python", MaxAttempts: 1})
		require.NoError(t, err)
		jobs, err := s.ClaimJobs(ctx, store.ClaimParams{WorkerID: id, Max: 1, Now: time.Now()})
		require.NoError(t, err)
		for _, j := range jobs {
			fmt.Printf("claimed %s\n", j.ID)
		}
	}
}

func openMigrated(t *testing.T, dbURL string) store.Store {
	t.Helper()
	s, err := database.Open(t.Context(), dbURL, database.Options{Migrate: true})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}
