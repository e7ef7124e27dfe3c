package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func key(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])
}

// build8K is a layer build writing one 8 KiB file, counting its calls.
func build8K(n *int) func(dir string) (int64, error) {
	return func(dir string) (int64, error) {
		*n++
		if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 8<<10), 0o644); err != nil {
			return 0, err
		}
		return treeSize(dir), nil
	}
}

func TestLayerCacheEvictsOnlyLayersNotInUse(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	onDisk := map[string]bool{} // layers named by run directories
	// Each layer is 16 KiB by treeSize: the cache holds one.
	c := newLayerCache(dir, 20<<10, func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		return map[string]bool{key("b"): onDisk[key("b")]}
	})
	ctx := context.Background()
	builds := 0
	acquire := func(name string) func() {
		t.Helper()
		p, release, err := c.acquire(ctx, key(name), build8K(&builds))
		if err != nil {
			t.Fatalf("acquire %s: %v", name, err)
		}
		if p != filepath.Join(dir, key(name)) {
			t.Fatalf("acquire %s: %s", name, p)
		}
		return release
	}
	present := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, key(name)))
		return err == nil
	}
	relA := acquire("a")
	relA2 := acquire("a")
	if builds != 1 {
		t.Fatalf("two acquires of one layer built it %d times", builds)
	}
	relB := acquire("b")
	if !present("a") || !present("b") {
		t.Fatal("a layer in use was evicted")
	}
	relA()
	relC := acquire("c")
	if !present("a") {
		t.Fatal("a layer still pinned by a second acquire was evicted")
	}
	relA2()
	relD := acquire("d")
	if present("a") {
		t.Error("the least recently used layer not in use was kept over the cache's size")
	}
	if !present("b") || !present("c") || !present("d") {
		t.Error("a layer in use was evicted")
	}
	// b unpinned but named by a run directory (a run adopted after a
	// restart): kept; c, unpinned, goes.
	mu.Lock()
	onDisk[key("b")] = true
	mu.Unlock()
	relB()
	relC()
	relE := acquire("e")
	if !present("b") {
		t.Error("a layer named by a run directory was evicted")
	}
	if present("c") {
		t.Error("a layer not in use was kept over the cache's size")
	}
	relD()
	relE()
	if _, _, err := c.acquire(ctx, "../x", build8K(&builds)); err == nil {
		t.Error("a key that is not a sha256 was taken")
	}
}

func TestLayerCacheFailedBuildLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c := newLayerCache(dir, 1<<30, func() map[string]bool { return nil })
	_, _, err := c.acquire(context.Background(), key("a"), func(d string) (int64, error) {
		_ = os.WriteFile(filepath.Join(d, "half"), []byte("x"), 0o644)
		return 0, os.ErrInvalid
	})
	if err == nil {
		t.Fatal("a failed build gave a layer")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != key("a")+".lock" {
			t.Errorf("left after a failed build: %s", e.Name())
		}
	}
	if len(c.refs) != 0 {
		t.Errorf("a failed acquire kept its pin: %v", c.refs)
	}
}
