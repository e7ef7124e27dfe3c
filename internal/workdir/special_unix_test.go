//go:build unix

package workdir

import (
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// makeSpecial makes a FIFO, a socket and, when allowed (root), a character
// device in dir, and returns the names made.
func makeSpecial(t *testing.T, dir string) []string {
	t.Helper()
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	names := []string{"fifo", "sock"}
	if err := unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
		names = append(names, "null")
	} else {
		t.Logf("no device made (%v): only the FIFO and the socket are tried", err)
	}
	return names
}

// within fails the test if f has not returned in 20 s: a FIFO opened for
// reading would block forever.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s blocked: a special file was opened", what)
	}
}

func TestScanSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": ""})
	names := makeSpecial(t, dir)
	var plan *Plan
	var err error
	within(t, "Scan", func() { plan, err = Scan(t.Context(), dir, Options{}) })
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(plan.Manifest); !slices.Equal(got, []string{"run.py"}) {
		t.Errorf("sent %q", got)
	}
	want := map[string]string{"fifo": reasonFIFO, "sock": reasonSocket, "null": reasonDevice}
	why := excludedReasons(plan)
	for _, n := range names {
		if why[n] != want[n] {
			t.Errorf("%s: reason %q, want %q", n, why[n], want[n])
		}
	}
}

func TestCollectSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names := makeSpecial(t, dir)
	writeTree(t, dir, map[string]string{"out.txt": "result"})
	var got Collected
	var err error
	within(t, "Collect", func() { got, err = Collect(t.Context(), dir, Manifest{}, Limits{}) })
	if err != nil {
		t.Fatal(err)
	}
	if p := paths(got.Outputs); !slices.Equal(p, []string{"out.txt"}) {
		t.Errorf("outputs %q", p)
	}
	skipped := map[string]string{}
	for _, s := range got.Skipped {
		skipped[s.Path] = s.Reason
	}
	for _, n := range names {
		if !strings.Contains(skipped[n], "only regular files") {
			t.Errorf("%s: skip reason %q", n, skipped[n])
		}
	}
}

// TestOpenRefusesFIFO: were a FIFO to replace a file between the listing
// and the open, the open returns at once with an error.
func TestOpenRefusesFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "f"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, "Open", func() {
		_, err := Open(dir, Entry{Path: "f", Kind: KindFile, SHA256: sha})
		if err == nil || !strings.Contains(err.Error(), "no longer a regular file") {
			t.Errorf("Open(FIFO) = %v", err)
		}
	})
}
