"""Connected components of a friendship network with union-find."""
import doctest
import sys
from collections import Counter

FRIENDS = [("ana", "ben"), ("ben", "cal"), ("dee", "eli"), ("fay", "gus"),
           ("gus", "hal"), ("hal", "fay"), ("ivy", "ivy"), ("cal", "ana")]


class DisjointSet:
    """Union by size with path halving.

    >>> ds = DisjointSet()
    >>> ds.union(1, 2); ds.union(3, 4); ds.union(2, 4)
    >>> ds.find(1) == ds.find(3), ds.find(1) == ds.find(5)
    (True, False)
    """

    def __init__(self):
        self.parent, self.size = {}, {}

    def find(self, x):
        self.parent.setdefault(x, x)
        self.size.setdefault(x, 1)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def components(pairs):
    """Sizes of the groups, largest first.

    >>> components([("a", "b"), ("c", "d"), ("b", "e")])
    [3, 2]
    """
    ds = DisjointSet()
    for a, b in pairs:
        ds.union(a, b)
    return sorted(Counter(ds.find(x) for x in list(ds.parent)).values(), reverse=True)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print("group sizes:", components(FRIENDS))
