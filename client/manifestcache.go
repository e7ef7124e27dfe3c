package client

import (
	"encoding/json"
	"slices"
	"sync"
)

// manifestCache keeps the leased inputs manifests last decoded, by the
// SHA-256 of their encoding, the most recently used last: a few projects'
// worth (at most manifestCacheLen manifests, manifestCacheEntries entries
// in all).
type manifestCache struct {
	mu      sync.Mutex
	recent  []cachedManifest
	entries int
}

type cachedManifest struct {
	digest [32]byte
	m      *Manifest
}

const (
	manifestCacheLen     = 8
	manifestCacheEntries = 250_000
)

// decode returns the manifest encoded as data, whose SHA-256 is digest:
// the one decoded before if there is one.
func (c *manifestCache) decode(digest [32]byte, data []byte) (*Manifest, error) {
	c.mu.Lock()
	for i, e := range c.recent {
		if e.digest == digest {
			c.recent = append(slices.Delete(c.recent, i, i+1), e)
			c.mu.Unlock()
			return e.m, nil
		}
	}
	c.mu.Unlock()
	m := new(Manifest)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, err
	}
	if len(m.Entries) > manifestCacheEntries {
		return m, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.recent {
		if e.digest == digest { // decoded meanwhile by another lease
			return e.m, nil
		}
	}
	c.recent = append(c.recent, cachedManifest{digest, m})
	c.entries += len(m.Entries)
	for len(c.recent) > manifestCacheLen || c.entries > manifestCacheEntries {
		c.entries -= len(c.recent[0].m.Entries)
		c.recent = slices.Delete(c.recent, 0, 1)
	}
	return m, nil
}
