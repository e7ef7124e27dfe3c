package workdir

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
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
// It is kept in one file per scanned directory, written whole (temporary
// file and rename) by Save, holding only what the last Scan saw, so it
// never grows past the tree. Concurrent runs over one directory are safe:
// the last Save wins, and a lost entry is only a file hashed again.
//
// The file is binary (see encodeHashCache), as it is read on every run
// and decoding JSON cost a large project's re-run tens of milliseconds of
// CPU; a file of version 1 (JSON, named .json) is read once, when no
// newer one exists, and removed once its successor is saved.
type HashCache struct {
	file   string
	v1     string        // the version 1 file of the same directory
	settle time.Duration // see Stamp.settled; changed by tests only
	hits   int           // lookups answered, for tests

	// loaded is closed once old is read: OpenHashCache reads the file in
	// the background, while Scan lists the tree, and lookup waits for it.
	loaded chan struct{}

	mu     sync.Mutex
	old    map[string]cachedHash
	seen   map[string]cachedHash
	added  bool // seen has an entry old lacks
	fromV1 bool // old was read from the version 1 file: Save rewrites it
}

type cachedHash struct {
	Stamp  Stamp
	SHA256 [sha256.Size]byte
}

const (
	// hashCacheExt names the cache files; hashCacheV1Ext the JSON files
	// of version 1.
	hashCacheExt   = ".hashes"
	hashCacheV1Ext = ".json"
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
	name := filepath.Join(dir, hex.EncodeToString(sum[:16]))
	c := &HashCache{
		file:   name + hashCacheExt,
		v1:     name + hashCacheV1Ext,
		settle: 2 * time.Second,
		loaded: make(chan struct{}),
		old:    map[string]cachedHash{},
		seen:   map[string]cachedHash{},
	}
	go func() {
		defer close(c.loaded)
		data, err := os.ReadFile(c.file)
		switch {
		case err == nil:
			if old, ok := decodeHashCache(data, root); ok {
				c.old = old
			}
		case errors.Is(err, fs.ErrNotExist):
			c.old, c.fromV1 = readHashCacheV1(c.v1, root)
		}
	}()
	return c
}

// The file holds, in order: hashCacheMagic; the root's length (uvarint)
// and bytes; the number of entries (uvarint); per entry the path's length
// (uvarint) and bytes, the stamp's device, inode (uvarints), size, mtime
// and ctime (varints) and the 32 bytes of the SHA-256; and last the
// CRC-32C of everything before it (4 bytes, little-endian). A file that
// does not parse exactly, or whose checksum differs, is treated as absent.
const hashCacheMagic = "rgrid-hashes\x00\x02" // name, version 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeHashCache is the file of root holding files, paths sorted (the
// same cache is the same bytes).
func encodeHashCache(root string, files map[string]cachedHash) []byte {
	paths := slices.Sorted(maps.Keys(files))
	n := len(hashCacheMagic) + 2*binary.MaxVarintLen64 + len(root) + 4
	for _, p := range paths {
		n += len(p) + 6*binary.MaxVarintLen64 + sha256.Size
	}
	b := make([]byte, 0, n)
	b = append(b, hashCacheMagic...)
	b = binary.AppendUvarint(b, uint64(len(root)))
	b = append(b, root...)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	for _, p := range paths {
		h := files[p]
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
		b = binary.AppendUvarint(b, h.Stamp.Dev)
		b = binary.AppendUvarint(b, h.Stamp.Ino)
		b = binary.AppendVarint(b, h.Stamp.Size)
		b = binary.AppendVarint(b, h.Stamp.Mtime)
		b = binary.AppendVarint(b, h.Stamp.Ctime)
		b = append(b, h.SHA256[:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHashCache reads a file of encodeHashCache; false if it is
// damaged, of another version or another directory's.
func decodeHashCache(data []byte, root string) (map[string]cachedHash, bool) {
	if len(data) < len(hashCacheMagic)+4 || string(data[:len(hashCacheMagic)]) != hashCacheMagic {
		return nil, false
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(body):]) {
		return nil, false
	}
	// One string holds every path: the entries' keys are slices of it.
	d := hashCacheDecoder{s: string(body[len(hashCacheMagic):])}
	if d.str() != root {
		return nil, false
	}
	count := d.uvarint()
	if d.bad || count > uint64(len(d.s)) {
		return nil, false
	}
	files := make(map[string]cachedHash, count)
	for range count {
		p := d.str()
		var h cachedHash
		h.Stamp.Dev, h.Stamp.Ino = d.uvarint(), d.uvarint()
		h.Stamp.Size, h.Stamp.Mtime, h.Stamp.Ctime = d.varint(), d.varint(), d.varint()
		if d.bad || len(d.s) < sha256.Size {
			return nil, false
		}
		copy(h.SHA256[:], d.s)
		d.s = d.s[sha256.Size:]
		files[p] = h
	}
	if d.bad || d.s != "" {
		return nil, false
	}
	return files, true
}

// hashCacheDecoder reads the fields of a cache file from s; bad once one
// does not parse (every later read then returns zero).
type hashCacheDecoder struct {
	s   string
	bad bool
}

func (d *hashCacheDecoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			d.s = d.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	d.bad = true
	return 0
}

func (d *hashCacheDecoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *hashCacheDecoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.s)) {
		d.bad = true
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

// readHashCacheV1 reads the version 1 (JSON) cache file of root; empty if
// it is absent, damaged or another directory's, and true if it was read.
func readHashCacheV1(file, root string) (map[string]cachedHash, bool) {
	old := map[string]cachedHash{}
	data, err := os.ReadFile(file)
	if err != nil {
		return old, false
	}
	var f struct {
		Version int    `json:"version"`
		Root    string `json:"root"`
		Files   map[string]struct {
			Stamp  Stamp  `json:"st"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	if json.Unmarshal(data, &f) != nil || f.Version != 1 || f.Root != root {
		return old, false
	}
	for p, h := range f.Files {
		var sum [sha256.Size]byte
		if n, err := hex.Decode(sum[:], []byte(h.SHA256)); err == nil && n == len(sum) && validSHA256(h.SHA256) {
			old[p] = cachedHash{Stamp: h.Stamp, SHA256: sum}
		}
	}
	return old, true
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
	return hex.EncodeToString(h.SHA256[:]), true
}

// add remembers sum (hexadecimal, as Scan records it) for path, read with
// stamp st at time read.
func (c *HashCache) add(path string, st Stamp, sum string, read time.Time) {
	if !st.settled(read, c.settle) {
		return
	}
	h := cachedHash{Stamp: st}
	if n, err := hex.Decode(h.SHA256[:], []byte(sum)); err != nil || n != sha256.Size {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[path] = h
	c.added = true
}

// Save writes what this scan saw, for the next. root is recorded so that a
// hash collision of two directories' names cannot mix their files.
func (c *HashCache) Save(root string) error {
	<-c.loaded
	c.mu.Lock()
	if !c.added && !c.fromV1 && len(c.seen) == len(c.old) {
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
	data := encodeHashCache(root, c.seen)
	c.mu.Unlock()
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
	// The version 1 file is never read again while this one exists.
	_ = os.Remove(c.v1)
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
		case filepath.Ext(e.Name()) == hashCacheExt, filepath.Ext(e.Name()) == hashCacheV1Ext:
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
