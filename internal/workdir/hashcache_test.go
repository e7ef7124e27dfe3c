package workdir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// cacheFile returns the one file in cacheDir, failing unless there is
// exactly one.
func cacheFile(t *testing.T, cacheDir string) string {
	t.Helper()
	ents, err := os.ReadDir(cacheDir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("cache directory holds %v (%v), want one file", ents, err)
	}
	return filepath.Join(cacheDir, ents[0].Name())
}

func TestHashCacheDamaged(t *testing.T) {
	t.Parallel()
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": "print(1)"})
	scanCached(t, dir, cacheDir, 0)
	file := cacheFile(t, cacheDir)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)-10] ^= 1 // in the hash: only the checksum tells
	otherVersion := slices.Clone(good)
	otherVersion[len(hashCacheMagic)-1] = 99
	elsewhere := encodeHashCache("/elsewhere", map[string]cachedHash{})
	for name, bad := range map[string][]byte{
		"empty": {}, "truncated": good[:len(good)-1], "flipped": flipped, "other version": otherVersion,
		"another directory's": elsewhere, "json": []byte(`{"version":1,"root":"` + dir + `","files":{}}`),
	} {
		if err := os.WriteFile(file, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		plan, hits := scanCached(t, dir, cacheDir, 0)
		if hits != 0 || hashes(plan.Manifest)["run.py"] != sha256Hex("print(1)") {
			t.Errorf("cache %s: %d hits, hash %s", name, hits, hashes(plan.Manifest)["run.py"])
		}
		if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, good) {
			t.Errorf("cache %s: not rewritten whole by the scan after it (%v)", name, err)
		}
	}
}

func TestHashCacheEncoding(t *testing.T) {
	t.Parallel()
	files := map[string]cachedHash{}
	for i, p := range []string{"run.py", "data/a b.csv", "données/ü.txt", strings.Repeat("x/", 100) + "deep"} {
		h := cachedHash{Stamp: Stamp{Dev: math.MaxUint64 - uint64(i), Ino: uint64(i) << 40, Size: int64(i) * 1e9,
			Mtime: -1 - int64(i), Ctime: math.MaxInt64 - int64(i)}}
		h.SHA256 = sha256.Sum256([]byte(p))
		files[p] = h
	}
	data := encodeHashCache("/proj", files)
	got, ok := decodeHashCache(data, "/proj")
	if !ok || !maps.Equal(got, files) {
		t.Fatalf("decoded %v (%v), want %v", got, ok, files)
	}
	if again := encodeHashCache("/proj", got); !bytes.Equal(again, data) {
		t.Error("the same cache encoded to other bytes")
	}
	if _, ok := decodeHashCache(data, "/other"); ok {
		t.Error("another directory's cache was read")
	}
	for n := range len(data) {
		if _, ok := decodeHashCache(data[:n], "/proj"); ok {
			t.Fatalf("the file cut to %d of %d bytes was read", n, len(data))
		}
	}
	if m, ok := decodeHashCache(encodeHashCache("/proj", nil), "/proj"); !ok || len(m) != 0 {
		t.Errorf("empty cache: %v, %v", m, ok)
	}
}

// A cache of version 1 (JSON) is read once, and replaced by its successor.
func TestHashCacheVersion1(t *testing.T) {
	t.Parallel()
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": "print(1)", "data/a.csv": "1,2"})
	scanCached(t, dir, cacheDir, 0)
	file := cacheFile(t, cacheDir)
	old, ok := decodeHashCache(mustRead(t, file), dir)
	if !ok || len(old) != 2 {
		t.Fatalf("cache: %v, %v", old, ok)
	}
	v1 := map[string]any{}
	for p, h := range old {
		v1[p] = map[string]any{"st": h.Stamp, "sha256": hex.EncodeToString(h.SHA256[:])}
	}
	data, err := json.Marshal(map[string]any{"version": 1, "root": dir, "files": v1})
	if err != nil {
		t.Fatal(err)
	}
	v1File := strings.TrimSuffix(file, hashCacheExt) + hashCacheV1Ext
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v1File, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, hits := scanCached(t, dir, cacheDir, 0); hits != 2 {
		t.Errorf("version 1 cache answered %d of 2 files", hits)
	}
	if got := cacheFile(t, cacheDir); got != file {
		t.Errorf("after the scan the cache is %s, want %s", got, file)
	}
	if _, hits := scanCached(t, dir, cacheDir, 0); hits != 2 {
		t.Errorf("its successor answered %d of 2 files", hits)
	}

	// A damaged version 1 file is no file.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v1File, []byte(`{"version":1,"root":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if plan, hits := scanCached(t, dir, cacheDir, 0); hits != 0 || hashes(plan.Manifest)["run.py"] != sha256Hex("print(1)") {
		t.Errorf("damaged version 1 cache: %d hits", hits)
	}
}

// An unchanged tree's cache is touched, not rewritten.
func TestHashCacheTouchedWhenUnchanged(t *testing.T) {
	t.Parallel()
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"run.py": "print(1)"})
	scanCached(t, dir, cacheDir, 0)
	file := cacheFile(t, cacheDir)
	before, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(file, past, past); err != nil {
		t.Fatal(err)
	}
	scanCached(t, dir, cacheDir, 0)
	after, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("an unchanged cache was rewritten")
	}
	if after.ModTime().Before(time.Now().Add(-time.Minute)) {
		t.Errorf("an unchanged cache was not touched: modified %v", after.ModTime())
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
