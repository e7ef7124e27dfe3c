"""An LRU cache, and its hit rate over a skewed request trace."""
import doctest
import random
import sys
from collections import OrderedDict


class LRUCache:
    """Keeps the most recently used `capacity` keys.

    >>> c = LRUCache(2)
    >>> c.put("a", 1); c.put("b", 2); c.get("a")
    1
    >>> c.put("c", 3); c.get("b") is None, list(c.data)
    (True, ['a', 'c'])
    """

    def __init__(self, capacity):
        self.capacity, self.data = capacity, OrderedDict()
        self.hits = self.misses = 0

    def get(self, key):
        if key not in self.data:
            self.misses += 1
            return None
        self.hits += 1
        self.data.move_to_end(key)
        return self.data[key]

    def put(self, key, value):
        self.data[key] = value
        self.data.move_to_end(key)
        if len(self.data) > self.capacity:
            self.data.popitem(last=False)


def zipf_trace(n, keys, seed, s=1.1):
    """n requests over `keys` keys, key k with weight 1/k**s.

    >>> zipf_trace(5, 10, seed=4)
    [1, 1, 2, 1, 1]
    """
    rng = random.Random(seed)
    return rng.choices(range(1, keys + 1), weights=[1 / k ** s for k in range(1, keys + 1)], k=n)


def hit_rate(trace, capacity):
    """Share of requests served from a cache of the given size."""
    cache = LRUCache(capacity)
    for key in trace:
        if cache.get(key) is None:
            cache.put(key, f"page {key}")
    return cache.hits / len(trace)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    trace = zipf_trace(20000, 1000, seed=2026)
    for capacity in (10, 50, 100, 250, 500):
        print(f"capacity {capacity:>3}: hit rate {hit_rate(trace, capacity):.1%}")
