package workdir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// HashCache remembers the SHA-256 of files by path and Stamp, so that a
// second Scan of an unchanged tree reads no file: it is what makes a
// re-run of a large project start as fast as one without files. A file
// whose stamp differs is read again; one changed within two seconds of
// its hashing is never remembered (see Stamp.settled).
//
// It is kept in one JSON file per scanned directory, written whole
// (temporary file and rename) by Save, holding only what the last Scan
// saw, so it never grows past the tree. Concurrent runs over one
// directory are safe: the last Save wins, and a lost entry is only a file
// hashed again.
type HashCache struct {
	file   string
	settle time.Duration // see Stamp.settled; changed by tests only
	hits   int           // lookups answered, for tests

	// loaded is closed once old is read: OpenHashCache reads the file in
	// the background, while Scan lists the tree (the decoding of a large
	// project's cache is as long as the listing), and lookup waits for it.
	loaded chan struct{}

	mu    sync.Mutex
	old   map[string]cachedHash
	seen  map[string]cachedHash
	added bool // seen has an entry old lacks
}

type cachedHash struct {
	Stamp  Stamp  `json:"st"`
	SHA256 string `json:"sha256"`
}

type hashCacheFile struct {
	Version int                   `json:"version"`
	Root    string                `json:"root"`
	Files   map[string]cachedHash `json:"files"`
}

const (
	hashCacheVersion = 1
	// maxCachedTrees is how many directories' caches are kept in a cache
	// directory; past it the least recently saved are removed.
	maxCachedTrees = 200
)

// OpenHashCache returns the cache of the directory root (absolute) kept
// under dir, empty if there is none or it cannot be read: a cache is only
// ever a shortcut, so a damaged one is treated as absent. The file is
// read in the background; the first lookup waits for it.
func OpenHashCache(dir, root string) *HashCache {
	sum := sha256.Sum256([]byte(root))
	c := &HashCache{
		file:   filepath.Join(dir, hex.EncodeToString(sum[:16])+".json"),
		settle: 2 * time.Second,
		loaded: make(chan struct{}),
		old:    map[string]cachedHash{},
		seen:   map[string]cachedHash{},
	}
	go func() {
		defer close(c.loaded)
		c.old = readHashCache(c.file, root)
	}()
	return c
}

// readHashCache reads the cache file of root; empty if it is absent,
// damaged or another directory's.
func readHashCache(file, root string) map[string]cachedHash {
	old := map[string]cachedHash{}
	data, err := os.ReadFile(file)
	if err != nil {
		return old
	}
	var f hashCacheFile
	if json.Unmarshal(data, &f) != nil || f.Version != hashCacheVersion || f.Root != root {
		return old
	}
	for p, h := range f.Files {
		if validSHA256(h.SHA256) {
			old[p] = h
		}
	}
	return old
}

// lookup returns the hash remembered for path if its stamp is still st.
func (c *HashCache) lookup(path string, st Stamp) (string, bool) {
	<-c.loaded
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.old[path]
	if !ok || h.Stamp != st {
		return "", false
	}
	c.seen[path] = h
	c.hits++
	return h.SHA256, true
}

// add remembers sum for path, read with stamp st at time read.
func (c *HashCache) add(path string, st Stamp, sum string, read time.Time) {
	if !st.settled(read, c.settle) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[path] = cachedHash{Stamp: st, SHA256: sum}
	c.added = true
}

// Save writes what this scan saw, for the next. root is recorded so that a
// hash collision of two directories' names cannot mix their files.
func (c *HashCache) Save(root string) error {
	<-c.loaded
	c.mu.Lock()
	if !c.added && len(c.seen) == len(c.old) {
		// Every entry read was seen again, unchanged: the file holds
		// what it would be rewritten with. Touched, it stays among the
		// recently used (pruneHashCaches).
		c.mu.Unlock()
		now := time.Now()
		if err := os.Chtimes(c.file, now, now); err == nil {
			return nil
		}
		c.mu.Lock()
	}
	data, err := json.Marshal(hashCacheFile{Version: hashCacheVersion, Root: root, Files: c.seen})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("hash cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".hashes-*")
	if err != nil {
		return fmt.Errorf("hash cache: %w", err)
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), c.file)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("hash cache: %w", werr)
	}
	pruneHashCaches(dir, c.file)
	return nil
}

// pruneHashCaches keeps the newest maxCachedTrees caches in dir, and
// removes temporary files left by a Save that was killed an hour or more
// ago.
func pruneHashCaches(dir, keep string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type cacheFile struct {
		path  string
		saved time.Time
	}
	var all []cacheFile
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		switch {
		case filepath.Ext(e.Name()) == ".json":
			all = append(all, cacheFile{p, fi.ModTime()})
		case time.Since(fi.ModTime()) > time.Hour:
			_ = os.Remove(p)
		}
	}
	if len(all) <= maxCachedTrees {
		return
	}
	slices.SortFunc(all, func(a, b cacheFile) int { return b.saved.Compare(a.saved) })
	for _, f := range all[maxCachedTrees:] {
		if f.path != keep {
			if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return
			}
		}
	}
}
