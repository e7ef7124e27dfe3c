package workdir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// blobs serves content by hash, as the blob store would.
type blobs map[string][]byte

func (b blobs) open(_ context.Context, sum string) (io.ReadCloser, error) {
	data, ok := b[sum]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b blobs) add(data string) string {
	s := sha256.Sum256([]byte(data))
	h := hex.EncodeToString(s[:])
	b[h] = []byte(data)
	return h
}

// blobsOf reads the files of a plan as blobs.
func blobsOf(t *testing.T, dir string, m Manifest) blobs {
	t.Helper()
	b := blobs{}
	for _, e := range m.Entries {
		if e.Kind == KindFile {
			data, err := os.ReadFile(filepath.Join(dir, e.Path))
			if err != nil {
				t.Fatal(err)
			}
			b[e.SHA256] = data
		}
	}
	return b
}

func TestStageRoundTrip(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	writeTree(t, src, map[string]string{
		"run.py": "import lib", "lib/__init__.py": "", "lib/util.py": "x = 1", "data/in.csv": "1,2",
		"same.txt": "dup", "copy.txt": "dup", "out/": "", "latest@": "data/in.csv", "lib/up@": "../data",
	})
	if err := os.Chmod(filepath.Join(src, "run.py"), 0o755); err != nil {
		t.Fatal(err)
	}
	plan, err := Scan(t.Context(), src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, err := Stage(t.Context(), dst, plan.Manifest, blobsOf(t, src, plan.Manifest).open); err != nil {
		t.Fatal(err)
	}
	again, err := Scan(t.Context(), dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Manifest.Entries, plan.Manifest.Entries) {
		t.Errorf("staged tree scans to\n%v\nwant\n%v", again.Manifest.Entries, plan.Manifest.Entries)
	}
	if target, err := os.Readlink(filepath.Join(dst, "lib", "up")); err != nil || target != filepath.FromSlash("../data") {
		t.Errorf("lib/up: %q, %v; want a link to ../data", target, err)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]fs.FileMode{"run.py": 0o755, "lib/util.py": 0o644} {
			fi, err := os.Stat(filepath.Join(dst, p))
			if err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
			}
		}
	}
}

func TestStageRefusesBadBlobs(t *testing.T) {
	t.Parallel()
	b := blobs{}
	good := b.add("good")
	for name, tc := range map[string]struct {
		content string
		size    int64
	}{
		"other bytes": {"evil", 4},
		"longer":      {"good and more", 4},
		"shorter":     {"goo", 4},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dst := t.TempDir()
			lying := blobs{good: []byte(tc.content)}
			m := manifest(Entry{Path: "a/f", Kind: KindFile, Size: tc.size, SHA256: good})
			_, err := Stage(t.Context(), dst, m, lying.open)
			if !errors.Is(err, ErrBadBlob) {
				t.Fatalf("Stage = %v, want ErrBadBlob", err)
			}
			if _, err := os.Lstat(filepath.Join(dst, "a", "f")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a bad file was left: %v", err)
			}
		})
	}
}

func TestStageNeverEscapes(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	b := blobs{}
	h := b.add("payload")
	f := func(p string) Entry { return Entry{Path: p, Kind: KindFile, Size: 7, SHA256: h} }

	// A link planted where the manifest puts a folder: the write through
	// it would land outside, and os.Root refuses it.
	dst := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dst, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := Stage(t.Context(), dst, manifest(f("a/x")), b.open); err == nil {
		t.Error("Stage through a planted symlink: no error")
	}
	// A file already there is not overwritten (nor written through).
	dst = t.TempDir()
	writeTree(t, dst, map[string]string{"x": "mine"})
	if _, err := Stage(t.Context(), dst, manifest(f("x")), b.open); err == nil {
		t.Error("Stage over an existing file: no error")
	}
	if data, _ := os.ReadFile(filepath.Join(dst, "x")); string(data) != "mine" {
		t.Errorf("existing file now holds %q", data)
	}
	// Manifests that would reach outside are refused before anything is written.
	for _, m := range []Manifest{
		manifest(f("../x")),
		manifest(f("/tmp/x")),
		manifest(link("l", "../../"+filepath.Base(outside))),
		manifest(link("esc", "s/.."), link("s", ".")),
		manifest(link("l", "sub"), f("l/x")),
	} {
		dst := t.TempDir()
		var ie *InvalidError
		if _, err := Stage(t.Context(), dst, m, b.open); !errors.As(err, &ie) {
			t.Errorf("Stage(%v) = %v, want an *InvalidError", paths(m), err)
		}
		if ents, _ := os.ReadDir(dst); len(ents) != 0 {
			t.Errorf("Stage(%v) wrote %d entries before refusing", paths(m), len(ents))
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was written outside: %v", ents)
	}
}

func TestStageCanceled(t *testing.T) {
	t.Parallel()
	b := blobs{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Stage(ctx, t.TempDir(), manifest(Entry{Path: "x", Kind: KindFile, Size: 1, SHA256: b.add("1")}), b.open)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Stage = %v, want context.Canceled", err)
	}
}
