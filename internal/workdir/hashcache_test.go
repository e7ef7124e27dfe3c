package workdir

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// scanCached scans dir with the cache kept in cacheDir, as rgrid run does,
// and returns the plan and how many files the cache answered for.
func scanCached(t *testing.T, dir, cacheDir string, settle time.Duration) (*Plan, int) {
	t.Helper()
	c := OpenHashCache(cacheDir, dir)
	c.settle = settle
	plan, err := Scan(t.Context(), dir, Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	return plan, c.hits
}

func hashes(m Manifest) map[string]string {
	out := map[string]string{}
	for _, e := range m.Entries {
		if e.Kind == KindFile {
			out[e.Path] = e.SHA256
		}
	}
	return out
}

func TestHashCache(t *testing.T) {
	t.Parallel()
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": "print(1)", "data/a.csv": "1,2", "data/b.csv": "3,4", "big.bin": "0123456789"})
	first, hits := scanCached(t, dir, cacheDir, 0)
	if hits != 0 {
		t.Fatalf("first scan: %d answered by an empty cache", hits)
	}
	again, hits := scanCached(t, dir, cacheDir, 0)
	if hits != 4 {
		t.Errorf("unchanged tree: cache answered %d of 4 files", hits)
	}
	if !mapsEqual(hashes(first.Manifest), hashes(again.Manifest)) {
		t.Errorf("cached hashes %v, want %v", hashes(again.Manifest), hashes(first.Manifest))
	}

	// A file rewritten with as many bytes and its modification time put
	// back is still read again: its inode change time moved.
	big := filepath.Join(dir, "big.bin")
	fi, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, []byte("9876543210"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(big, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"data/c.csv": "5,6"})
	changed, hits := scanCached(t, dir, cacheDir, 0)
	want := hashes(first.Manifest)
	want["big.bin"] = sha256Hex("9876543210")
	want["data/c.csv"] = sha256Hex("5,6")
	if got := hashes(changed.Manifest); !mapsEqual(got, want) {
		t.Errorf("after changes: hashes %v, want %v", got, want)
	}
	if stampsHaveCtime && hits != 3 {
		t.Errorf("after changes: cache answered %d files, want the 3 unchanged", hits)
	}
}

func TestHashCacheSkipsUnsettledFiles(t *testing.T) {
	t.Parallel()
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": "print(1)"})
	// Just written: within the window a same-tick rewrite could hide in.
	scanCached(t, dir, cacheDir, time.Hour)
	if _, hits := scanCached(t, dir, cacheDir, 0); hits != 0 {
		t.Errorf("a file changed within the window was remembered (%d hits)", hits)
	}
}

func TestHashCacheDamaged(t *testing.T) {
	t.Parallel()
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": "print(1)"})
	scanCached(t, dir, cacheDir, 0)
	ents, err := os.ReadDir(cacheDir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("cache directory holds %v (%v), want one file", ents, err)
	}
	file := filepath.Join(cacheDir, ents[0].Name())
	for _, bad := range []string{"{", `{"version":1,"root":"/elsewhere","files":{"run.py":{"sha256":"00"}}}`, `{"version":99}`} {
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		plan, hits := scanCached(t, dir, cacheDir, 0)
		if hits != 0 || hashes(plan.Manifest)["run.py"] != sha256Hex("print(1)") {
			t.Errorf("cache %q: %d hits, hash %s", bad, hits, hashes(plan.Manifest)["run.py"])
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
