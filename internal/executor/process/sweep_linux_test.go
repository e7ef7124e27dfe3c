package process

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The sweep at start takes only run directories that are old and unheld:
// one another worker process has just made (and is about to lock) stays.
func TestSweepLeavesFreshRunDirectories(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, runPrefix+"fresh")
	old := filepath.Join(dir, runPrefix+"old")
	for _, d := range []string{fresh, old} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * sweepAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	e := &Executor{workDir: dir, log: slog.New(slog.DiscardHandler)}
	e.sweep()
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh run directory was swept: %v", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an old unheld run directory was left: %v", err)
	}
}
