package workdir

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// cacheDir serves blobs from files, as a worker's cache does: Verified.
type cacheDir string

func (c cacheDir) open(_ context.Context, sum string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(string(c), sum))
	if err != nil {
		return nil, err
	}
	return Verified(f), nil
}

func (c cacheDir) put(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(string(c), name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStageVerified(t *testing.T) {
	t.Parallel()
	c := cacheDir(t.TempDir())
	b := blobs{}
	good, short := b.add("from the cache"), b.add("twelve bytes")
	c.put(t, good, "from the cache")
	c.put(t, short, "eleven byte")
	dir := t.TempDir()
	staged, err := Stage(t.Context(), dir, manifest(Entry{Path: "sub/x.txt", Kind: KindFile, Size: 14, SHA256: good}), c.open)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "sub/x.txt")); err != nil || string(data) != "from the cache" {
		t.Errorf("staged %q (%v)", data, err)
	}
	fi, err := os.Lstat(filepath.Join(dir, "sub/x.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st := staged["sub/x.txt"]; st != stampOf(fi) {
		t.Errorf("Staged has %+v, the file %+v", st, stampOf(fi))
	}
	if age := time.Since(fi.ModTime()); age < time.Second {
		t.Errorf("staged file's modification time is %v old, want at least 1s", age)
	}
	// A cached file of the wrong size is refused, and not left staged.
	_, err = Stage(t.Context(), t.TempDir(), manifest(Entry{Path: "y", Kind: KindFile, Size: 12, SHA256: short}), c.open)
	if !errors.Is(err, ErrBadBlob) {
		t.Errorf("short cached blob: %v, want ErrBadBlob", err)
	}
}

func TestCollectStaged(t *testing.T) {
	t.Parallel()
	b := blobs{}
	in := manifest(
		Entry{Path: "hidden.txt", Kind: KindFile, Size: 3, SHA256: b.add("aaa")},
		Entry{Path: "quick.txt", Kind: KindFile, Size: 3, SHA256: b.add("now")},
		Entry{Path: "rewritten.txt", Kind: KindFile, Size: 3, SHA256: b.add("old")},
		Entry{Path: "same.txt", Kind: KindFile, Size: 3, SHA256: b.add("abc")},
	)
	dir := t.TempDir()
	staged, err := Stage(t.Context(), dir, in, b.open)
	if err != nil {
		t.Fatal(err)
	}
	// At once, in the same clock tick as staging: still a new stamp.
	writeTree(t, dir, map[string]string{"quick.txt": "NOW"})
	writeTree(t, dir, map[string]string{"rewritten.txt": "new"})
	// Rewritten with its stamp put back on purpose: the one case the
	// stamps cannot see (Limits.Staged), which proves the file is not read.
	hidden := filepath.Join(dir, "hidden.txt")
	fi, err := os.Stat(hidden)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"hidden.txt": "zzz"})
	if err := os.Chtimes(hidden, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		staged Staged
		want   []string
	}{
		{nil, []string{"hidden.txt", "quick.txt", "rewritten.txt"}},
		{staged, []string{"quick.txt", "rewritten.txt"}},
	} {
		got, err := Collect(t.Context(), dir, in, Limits{Staged: tc.staged})
		if err != nil {
			t.Fatal(err)
		}
		if p := paths(got.Outputs); !slices.Equal(p, tc.want) {
			t.Errorf("with Staged %v: outputs %q, want %q", tc.staged != nil, p, tc.want)
		}
	}
}
