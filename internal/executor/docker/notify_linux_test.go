package docker

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchWrites: a write to a watched file wakes the watcher, and
// stopping it ends its goroutine's read (no leak, a second stop is safe).
func TestWatchWrites(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	written, stop := watchWrites(a, b)
	if written == nil {
		t.Fatal("inotify did not watch the files")
	}
	defer stop()
	for _, p := range []string{b, a} {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("line\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		select {
		case <-written:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up within 10 s of a write to %s", filepath.Base(p))
		}
	}
	if missing, stop2 := watchWrites(filepath.Join(dir, "none")); missing != nil {
		stop2()
		t.Error("watching a missing file gave a channel; want nil (the tail polls)")
	}
}
