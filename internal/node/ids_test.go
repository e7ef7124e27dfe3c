package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Two workers started at once on a fresh data directory keep one id
// between them, rather than each its own with the file holding the last.
func TestKeptIDConcurrentFirstStartsAgree(t *testing.T) {
	t.Parallel()
	for round := range 50 {
		dir := filepath.Join(t.TempDir(), "data")
		ids := make([]string, 8)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				<-start
				id, err := keptID(dir, "worker-id", "host")
				if err != nil {
					t.Error(err)
				}
				ids[i] = id
			})
		}
		close(start)
		wg.Wait()
		kept, err := os.ReadFile(filepath.Join(dir, "worker-id"))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if id != strings.TrimSpace(string(kept)) || !strings.HasPrefix(id, "host-") {
				t.Fatalf("round %d: ids %v, kept %q: want all the kept one", round, ids, kept)
			}
		}
		left, _ := filepath.Glob(filepath.Join(dir, "worker-id.new-*"))
		if len(left) > 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
}

func TestKeptIDReplacesAnEmptyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "worker-id"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := keptID(dir, "worker-id", "host")
	if err != nil || !strings.HasPrefix(id, "host-") {
		t.Fatalf("id %q, %v", id, err)
	}
	if again, _ := keptID(dir, "worker-id", "host"); again != id {
		t.Errorf("kept %q, then %q", id, again)
	}
}

// A second process on a worker id in one data directory is refused with
// the holder's pid and the two ways to a separate identity.
func TestLockWorkerIDRefusesASecondProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := lockWorkerID(dir, "w1")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = lockWorkerID(dir, "w1")
	var ue *Error
	if !errors.As(err, &ue) || !ue.Usage {
		t.Fatalf("second lock: %v, want a usage error", err)
	}
	if want := fmt.Sprintf("worker w1 is already running in this data directory (pid %d)", os.Getpid()); ue.Message != want {
		t.Errorf("message %q, want %q", ue.Message, want)
	}
	if !strings.HasPrefix(ue.Hint, "give this one its own identity: --worker-id NAME or RGRID_DATA_DIR=DIR") || !strings.Contains(ue.Hint, dir) {
		t.Errorf("hint %q", ue.Hint)
	}
	other, err := lockWorkerID(dir, "w2")
	if err != nil {
		t.Fatalf("another id in the same directory: %v", err)
	}
	other.Close()
}
