// Package digestcache keeps values derived from content, by the SHA-256
// of that content, least recently used first out: decoded manifests, in
// the client, the server and the worker. A digest names its content, so
// a value kept is never stale; only the bounds decide what goes.
package digestcache

import (
	"container/list"
	"sync"
)

// Cache holds at most MaxLen values whose weights (a manifest's entries)
// add up to at most MaxWeight. A value heavier than MaxWeight alone is
// not kept. Safe for concurrent use; the values are shared by every
// caller, so they are read, never changed.
type Cache[V any] struct {
	MaxLen, MaxWeight int

	mu     sync.Mutex
	order  list.List // of *item[V], the most recently used first
	byKey  map[[32]byte]*list.Element
	weight int
}

type item[V any] struct {
	key    [32]byte
	v      V
	weight int
}

// Get returns the value kept for key, and makes it the most recently used.
func (c *Cache[V]) Get(key [32]byte) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*item[V]).v, true
}

// Add keeps v for key and returns the value kept: v, or the value another
// caller added for key meanwhile (so that all callers share one). The
// least recently used values go until the bounds hold.
func (c *Cache[V]) Add(key [32]byte, v V, weight int) V {
	if weight > c.MaxWeight || c.MaxLen < 1 {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*item[V]).v
	}
	if c.byKey == nil {
		c.byKey = map[[32]byte]*list.Element{}
	}
	for c.order.Len() >= c.MaxLen || c.weight+weight > c.MaxWeight {
		old := c.order.Back()
		it := old.Value.(*item[V])
		c.order.Remove(old)
		delete(c.byKey, it.key)
		c.weight -= it.weight
	}
	c.byKey[key] = c.order.PushFront(&item[V]{key: key, v: v, weight: weight})
	c.weight += weight
	return v
}

// Len is how many values are kept, and Weight their total weight.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Weight is the total weight of the values kept.
func (c *Cache[V]) Weight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.weight
}

// Snapshot returns every value kept, by key: the caller holds them
// whatever the cache drops afterwards.
func (c *Cache[V]) Snapshot() map[[32]byte]V {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[[32]byte]V, c.order.Len())
	for el := c.order.Front(); el != nil; el = el.Next() {
		it := el.Value.(*item[V])
		out[it.key] = it.v
	}
	return out
}
