"""Binary search for values, insertion points and integer square roots."""
import bisect
import doctest
import sys


def search(items, target):
    """Index of target in sorted items, or -1.

    >>> search([1, 3, 5, 7, 9], 7)
    3
    >>> search([1, 3, 5], 4)
    -1
    """
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


def isqrt(n):
    """Largest r with r*r <= n.

    >>> isqrt(99), isqrt(100), isqrt(0)
    (9, 10, 0)
    """
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid * mid <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    evens = list(range(0, 100_000, 2))
    hits = sum(search(evens, t) >= 0 for t in range(0, 20_000, 3))
    assert all(search(evens, v) == bisect.bisect_left(evens, v) for v in evens[::997])
    print(hits, "hits; isqrt(10**30 + 7) =", isqrt(10**30 + 7))
