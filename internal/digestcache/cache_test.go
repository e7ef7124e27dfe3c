package digestcache

import (
	"sync"
	"testing"
)

func key(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8)} }

func TestBoundsAndOrder(t *testing.T) {
	t.Parallel()
	c := Cache[int]{MaxLen: 3, MaxWeight: 9}
	for i := range 3 {
		c.Add(key(i), i, 1)
	}
	if _, ok := c.Get(key(0)); !ok { // 0 is now the most recently used
		t.Fatal("0 was not kept")
	}
	c.Add(key(3), 3, 1) // 1 goes: the least recently used
	if _, ok := c.Get(key(1)); ok {
		t.Error("the least recently used value was kept past MaxLen")
	}
	for _, i := range []int{0, 2, 3} {
		if v, ok := c.Get(key(i)); !ok || v != i {
			t.Errorf("Get(%d) = %d, %v", i, v, ok)
		}
	}
	// Weight: a value of 8 leaves room for one of the others (0 and 2 go).
	c.Add(key(4), 4, 8)
	if c.Len() != 2 || c.Weight() != 9 {
		t.Errorf("after a heavy value: %d values weighing %d, want 2 and 9", c.Len(), c.Weight())
	}
	if _, ok := c.Get(key(3)); !ok {
		t.Error("the most recently used light value went first")
	}
	// Heavier than the whole budget: returned, not kept, nothing evicted.
	if v := c.Add(key(5), 5, 10); v != 5 {
		t.Errorf("Add of an overweight value = %d", v)
	}
	if _, ok := c.Get(key(5)); ok || c.Len() != 2 {
		t.Errorf("an overweight value was kept, or evicted others (len %d)", c.Len())
	}
}

func TestAddKeepsTheFirst(t *testing.T) {
	t.Parallel()
	c := Cache[*int]{MaxLen: 2, MaxWeight: 2}
	a, b := new(int), new(int)
	if got := c.Add(key(1), a, 1); got != a {
		t.Fatal("the first value was not returned")
	}
	if got := c.Add(key(1), b, 1); got != a {
		t.Error("a second Add of the same key replaced the shared value")
	}
	if c.Len() != 1 || c.Weight() != 1 {
		t.Errorf("a repeated key counted twice: len %d weight %d", c.Len(), c.Weight())
	}
}

func TestZeroLimitsKeepNothing(t *testing.T) {
	t.Parallel()
	var c Cache[int]
	c.Add(key(1), 1, 0)
	if _, ok := c.Get(key(1)); ok {
		t.Error("a cache without bounds kept a value")
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	c := Cache[int]{MaxLen: 8, MaxWeight: 20}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := key((g*1000 + i) % 13)
				if _, ok := c.Get(k); !ok {
					c.Add(k, i, 1+i%3)
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 8 || c.Weight() > 20 {
		t.Errorf("bounds broken under concurrency: len %d weight %d", c.Len(), c.Weight())
	}
}

// Snapshot holds every value kept, and goes on holding them after the
// cache drops them.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	c := Cache[int]{MaxLen: 2, MaxWeight: 9}
	c.Add(key(1), 1, 1)
	c.Add(key(2), 2, 1)
	s := c.Snapshot()
	c.Add(key(3), 3, 1)
	if len(s) != 2 || s[key(1)] != 1 || s[key(2)] != 2 {
		t.Errorf("snapshot %v, want 1 and 2", s)
	}
	if _, ok := c.Get(key(1)); ok {
		t.Error("the cache kept 1 past MaxLen")
	}
}
