package blob_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rgrid/rgrid/internal/blob"
	"github.com/rgrid/rgrid/internal/blob/blobtest"
)

func openLocal(t *testing.T) *blob.Local {
	t.Helper()
	s, err := blob.OpenLocal(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalLayoutAndMode(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	data := []byte("layout")
	h := blobtest.Hash(data)
	if err := s.Put(t.Context(), h, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root(), h[:2], h)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("blob not at root/%s/%s: %v", h[:2], h, err)
	}
	if runtime.GOOS != "windows" {
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("blob file mode %o, want 600", m)
		}
		di, _ := os.Stat(s.Root())
		if m := di.Mode().Perm(); m != 0o700 {
			t.Errorf("store directory mode %o, want 700", m)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
		t.Errorf("the blob's directory holds %d entries, want only the blob", len(entries))
	}
}

func TestLocalRefusedPutLeavesNoFile(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	data := []byte("some content")
	h := blobtest.Hash(data)
	if err := s.Put(t.Context(), h, int64(len(data)), strings.NewReader("other conten")); err == nil {
		t.Fatal("Put of wrong bytes succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(s.Root(), h[:2]))
	if len(entries) != 0 {
		t.Errorf("a refused Put left %d files, the first %s", len(entries), entries[0].Name())
	}
}

func TestLocalWalkRemovesAbandonedTempFiles(t *testing.T) {
	t.Parallel()
	s := openLocal(t)
	dir := filepath.Join(s.Root(), "ab")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, ".put-abcdef12-123")
	fresh := filepath.Join(dir, ".put-abcdef12-456")
	stray := filepath.Join(dir, "not-a-blob")
	for _, p := range []string{old, fresh, stray} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{old, stray} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	if err := s.Walk(t.Context(), time.Now().Add(-24*time.Hour), func(h string, _ blob.Info) error {
		listed = append(listed, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Errorf("Walk listed %v: temporary and stray files are not blobs", listed)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("a temporary file older than the cutoff is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file of a Put that may be running was removed")
	}
	if _, err := os.Stat(stray); err != nil {
		t.Error("a file that is not the store's was removed")
	}
}

func TestOpenLocalErrors(t *testing.T) {
	t.Parallel()
	if _, err := blob.OpenLocal(""); err == nil {
		t.Error("OpenLocal(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.OpenLocal(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("OpenLocal of a file: got %v, want an error naming it", err)
	}
}
