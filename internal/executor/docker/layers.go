package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rgrid/rgrid/internal/executor/diskquota"
)

// The layer cache: a job's inputs (Spec.Stage) written once per inputs
// manifest (Spec.InputsKey) into a directory of their own, which every run
// with those inputs then sees through an overlay (overlay.go) instead of a
// copy. A layer is only ever read once it is in place: overlayfs writes
// nothing into a lower directory, a job's changes go to the run's upper
// directory, and the cache directory is the worker's alone (0700).
//
// In the cache directory, for each key: KEY (the layer, renamed into place
// once complete), KEY.lock (a directory whose lock serialises the build of
// KEY, in this process and others, and that holds KEY's size in "size").
// A layer's modification time is when it was last used: the least
// recently used go first when the cache is over its size, never one in
// use (pinned by a run of this process, or named by the layerFile of a
// run directory on disk, such as a run adopted after a restart).

// DefaultLayerCacheBytes bounds the layer cache when Options leave it zero.
const DefaultLayerCacheBytes = 10 << 30

// layerFile, in a run directory, names the layer the run's working
// directory is an overlay on.
const layerFile = "layer"

var layerKey = regexp.MustCompile(`^[0-9a-f]{64}$`)

type layerCache struct {
	dir      string
	maxBytes int64
	// inUse lists the layers named by run directories on disk.
	inUse func() map[string]bool

	mu   sync.Mutex
	refs map[string]int // pins of this process, by key
}

func newLayerCache(dir string, maxBytes int64, inUse func() map[string]bool) *layerCache {
	return &layerCache{dir: dir, maxBytes: maxBytes, inUse: inUse, refs: map[string]int{}}
}

func (c *layerCache) path(key string) string { return filepath.Join(c.dir, key) }

// acquire returns the layer of key, pinned until release is called,
// building it with build the first time: into a temporary directory of
// the cache, renamed into place once complete. build returns the size the
// files take. Concurrent acquires of a missing layer build it once.
func (c *layerCache) acquire(ctx context.Context, key string, build func(dir string) (int64, error)) (dir string, release func(), err error) {
	if !layerKey.MatchString(key) {
		return "", nil, fmt.Errorf("inputs key %q is not a sha256", key)
	}
	c.mu.Lock()
	c.refs[key]++
	c.mu.Unlock()
	unpin := sync.OnceFunc(func() {
		c.mu.Lock()
		if c.refs[key]--; c.refs[key] <= 0 {
			delete(c.refs, key)
		}
		c.mu.Unlock()
	})
	defer func() {
		if err != nil {
			unpin()
		}
	}()
	p := c.path(key)
	if touch(p) {
		return p, unpin, nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("make layer cache: %w", err)
	}
	lockDir := p + ".lock"
	if err := os.Mkdir(lockDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", nil, fmt.Errorf("make layer lock: %w", err)
	}
	unlock, err := diskquota.Hold(lockDir)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	if touch(p) { // built by another run meanwhile
		return p, unpin, nil
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp(c.dir, ".build-"+key+"-")
	if err != nil {
		return "", nil, fmt.Errorf("make layer: %w", err)
	}
	size, err := build(tmp)
	if err == nil {
		err = os.WriteFile(filepath.Join(lockDir, "size"), []byte(strconv.FormatInt(size, 10)), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return "", nil, err
	}
	c.evict()
	return p, unpin, nil
}

// touch marks the layer at p used now, reporting whether it exists.
func touch(p string) bool {
	now := time.Now()
	return os.Chtimes(p, now, now) == nil
}

// cachedLayer is one layer as evict sees it.
type cachedLayer struct {
	key  string
	size int64
	used time.Time
}

// list returns the cache's layers and their total size.
func (c *layerCache) list() ([]cachedLayer, int64) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, 0
	}
	var all []cachedLayer
	var total int64
	for _, e := range entries {
		if !e.IsDir() || !layerKey.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(c.path(e.Name()) + ".lock/size")
		size, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			size = treeSize(c.path(e.Name()))
		}
		all = append(all, cachedLayer{key: e.Name(), size: size, used: info.ModTime()})
		total += size
	}
	return all, total
}

// evict removes the least recently used layers not in use while the
// cache is over its size. A layer is taken out of place (renamed) under
// the mutex that pins, so that no acquire returns it meanwhile.
func (c *layerCache) evict() {
	all, total := c.list()
	if total <= c.maxBytes {
		return
	}
	slices.SortFunc(all, func(a, b cachedLayer) int { return a.used.Compare(b.used) })
	used := c.inUse()
	for _, l := range all {
		if total <= c.maxBytes {
			return
		}
		if used[l.key] {
			continue
		}
		unlock, ok := diskquota.TryHold(c.path(l.key) + ".lock")
		if !ok {
			continue // being built or removed elsewhere
		}
		c.mu.Lock()
		var trash string
		if c.refs[l.key] == 0 {
			trash = filepath.Join(c.dir, ".trash-"+l.key+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
			if os.Rename(c.path(l.key), trash) != nil {
				trash = ""
			}
		}
		c.mu.Unlock()
		unlock()
		if trash != "" {
			_ = os.RemoveAll(trash)
			total -= l.size
		}
	}
}

// sweep removes what a process that died left in the cache: builds it
// did not finish and layers it took out of place.
func (c *layerCache) sweep() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".trash-"):
			_ = os.RemoveAll(filepath.Join(c.dir, name))
		case strings.HasPrefix(name, ".build-"):
			key, _, _ := strings.Cut(strings.TrimPrefix(name, ".build-"), "-")
			if !layerKey.MatchString(key) {
				continue
			}
			// A build under way holds its key's lock.
			if unlock, ok := diskquota.TryHold(c.path(key) + ".lock"); ok {
				_ = os.RemoveAll(filepath.Join(c.dir, name))
				unlock()
			}
		}
	}
}

// treeSize is the bytes the regular files under dir take, counted in
// blocks of 4 KiB (what a small file costs on disk).
func treeSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		total += 4096 // the entry itself
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += (info.Size() + 4095) &^ 4095
			}
		}
		return nil
	})
	return total
}

// layersInUse lists the layers named by the run directories under
// workDir (layerFile), whoever made them.
func layersInUse(workDir string) map[string]bool {
	used := map[string]bool{}
	entries, err := os.ReadDir(workDir)
	if err != nil {
		return used
	}
	for _, d := range entries {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), "run-") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(workDir, d.Name(), layerFile))
		if key := strings.TrimSpace(string(b)); err == nil && layerKey.MatchString(key) {
			used[key] = true
		}
	}
	return used
}
