package server

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/digestcache"
)

// Bounds on the decoded manifests kept: a manifest of the 4,353 paths of
// a 1 GiB project decodes to ≈ 0.75 MB, so the entry budget (not the
// count) is what bounds the memory, to a few tens of MB.
const (
	maxCachedManifests       = 256
	maxCachedManifestEntries = 250_000
)

// manifestCache keeps recently used stored manifests decoded, by the
// SHA-256 of their stored bytes. A job's stored manifest never changes,
// and the same one is decoded again and again otherwise: for every
// submission that names it by its hash, every GET of the job (which
// `rgrid run` polls), every lease of a batch's items. Least recently used
// first out. Safe for concurrent use.
type manifestCache struct {
	c digestcache.Cache[*client.Manifest]
}

func newManifestCache() *manifestCache {
	return &manifestCache{c: digestcache.Cache[*client.Manifest]{MaxLen: maxCachedManifests, MaxWeight: maxCachedManifestEntries}}
}

// decode returns the manifest that the stored bytes b encode, nil for
// nil b. The manifest is shared by every caller: it is read, never
// changed (copy its entries to change them).
func (c *manifestCache) decode(b []byte) (*client.Manifest, error) {
	if b == nil {
		return nil, nil
	}
	key := sha256.Sum256(b)
	if m := c.get(key); m != nil {
		return m, nil
	}
	// Decoded outside the lock: two callers may decode the same bytes at
	// once, and both get the one kept.
	var m client.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode a stored manifest: %w", err)
	}
	return c.add(key, &m), nil
}

func (c *manifestCache) get(key [sha256.Size]byte) *client.Manifest {
	m, _ := c.c.Get(key)
	return m
}

func (c *manifestCache) add(key [sha256.Size]byte, m *client.Manifest) *client.Manifest {
	return c.c.Add(key, m, len(m.Entries))
}

// len is how many manifests are kept, for tests.
func (c *manifestCache) len() int { return c.c.Len() }

// maxOwnedInputs bounds Server.ownedInputs.
const maxOwnedInputs = 100_000

// factSet remembers facts that once true stay true (a user has a job
// with a manifest), so that they are looked up once. Past max facts it
// forgets them all and learns again: a bound, not a cache policy.
type factSet struct {
	mu  sync.Mutex
	m   map[string]struct{}
	max int
}

func (f *factSet) has(k string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.m[k]
	return ok
}

func (f *factSet) add(k string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= f.max {
		f.m = map[string]struct{}{}
	}
	f.m[k] = struct{}{}
}
