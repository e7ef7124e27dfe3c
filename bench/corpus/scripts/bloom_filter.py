"""A Bloom filter for seen usernames, and its false-positive rate."""
import doctest
import hashlib
import math
import sys


class Bloom:
    """m bits, k hash positions per item from one SHA-256 digest.

    >>> b = Bloom(1024, 3)
    >>> b.add("alice"); "alice" in b, "bob" in b
    (True, False)
    """

    def __init__(self, m, k):
        self.m, self.k, self.bits = m, k, bytearray((m + 7) // 8)

    def _positions(self, item):
        digest = hashlib.sha256(item.encode()).digest()
        h1, h2 = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big")
        return [(h1 + i * h2) % self.m for i in range(self.k)]

    def add(self, item):
        for p in self._positions(item):
            self.bits[p // 8] |= 1 << (p % 8)

    def __contains__(self, item):
        return all(self.bits[p // 8] >> (p % 8) & 1 for p in self._positions(item))


def optimal(n, p):
    """(bits, hashes) for n items at false-positive rate p.

    >>> optimal(1000, 0.01)
    (9586, 7)
    """
    m = math.ceil(-n * math.log(p) / math.log(2) ** 2)
    return m, round(m / n * math.log(2))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    users = [f"user{i:05d}" for i in range(2000)]
    strangers = [f"guest{i:05d}" for i in range(3000)]
    for target in (0.1, 0.01, 0.001):
        m, k = optimal(len(users), target)
        bloom = Bloom(m, k)
        for u in users:
            bloom.add(u)
        assert all(u in bloom for u in users)
        fp = sum(s in bloom for s in strangers) / len(strangers)
        print(f"target {target:<6} {m:>6} bits k={k:<2} measured {fp:.4f}")
