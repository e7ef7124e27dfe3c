package client

import (
	"encoding/json"

	"github.com/rgrid/rgrid/internal/digestcache"
)

// manifestCache keeps the leased inputs manifests last decoded, by the
// SHA-256 of their encoding: a few projects' worth (at most
// manifestCacheLen manifests, manifestCacheEntries entries in all).
type manifestCache struct {
	c digestcache.Cache[*Manifest]
}

const (
	manifestCacheLen     = 8
	manifestCacheEntries = 250_000
)

func newManifestCache() *manifestCache {
	return &manifestCache{c: digestcache.Cache[*Manifest]{MaxLen: manifestCacheLen, MaxWeight: manifestCacheEntries}}
}

// decode returns the manifest encoded as data, whose SHA-256 is digest:
// the one decoded before if there is one.
func (c *manifestCache) decode(digest [32]byte, data []byte) (*Manifest, error) {
	if m, ok := c.c.Get(digest); ok {
		return m, nil
	}
	m := new(Manifest)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, err
	}
	return c.c.Add(digest, m, len(m.Entries)), nil
}
