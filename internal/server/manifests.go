package server

import (
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rgrid/rgrid/client"
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
// first out. Safe for concurrent use; the zero value is ready.
type manifestCache struct {
	mu      sync.Mutex
	order   list.List // of *cachedManifest, the most recently used first
	byKey   map[[sha256.Size]byte]*list.Element
	entries int // the file entries of all the manifests kept
}

type cachedManifest struct {
	key [sha256.Size]byte
	m   *client.Manifest
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
	// once, and both get an equal manifest.
	var m client.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode a stored manifest: %w", err)
	}
	c.add(key, &m)
	return &m, nil
}

func (c *manifestCache) get(key [sha256.Size]byte) *client.Manifest {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cachedManifest).m
}

func (c *manifestCache) add(key [sha256.Size]byte, m *client.Manifest) {
	n := len(m.Entries)
	if n > maxCachedManifestEntries {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[[sha256.Size]byte]*list.Element{}
	}
	if el, ok := c.byKey[key]; ok { // decoded by another caller meanwhile
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= maxCachedManifests || c.entries+n > maxCachedManifestEntries {
		old := c.order.Back()
		cm := old.Value.(*cachedManifest)
		c.order.Remove(old)
		delete(c.byKey, cm.key)
		c.entries -= len(cm.m.Entries)
	}
	c.byKey[key] = c.order.PushFront(&cachedManifest{key: key, m: m})
	c.entries += n
}

// len is how many manifests are kept, for tests.
func (c *manifestCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
