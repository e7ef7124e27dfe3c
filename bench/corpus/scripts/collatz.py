"""Collatz sequences and the longest chain under a bound."""
import doctest
import sys


def sequence(n):
    """The sequence from n down to 1.

    >>> sequence(6)
    [6, 3, 10, 5, 16, 8, 4, 2, 1]
    """
    out = [n]
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        out.append(n)
    return out


def longest_below(limit):
    """(start, length) of the longest chain starting below limit, cached.

    >>> longest_below(10)
    (9, 20)
    """
    lengths = {1: 1}

    def length(n):
        path = []
        while n not in lengths:
            path.append(n)
            n = n // 2 if n % 2 == 0 else 3 * n + 1
        total = lengths[n]
        for m in reversed(path):
            total += 1
            lengths[m] = total
        return total

    return max(((n, length(n)) for n in range(1, limit)), key=lambda p: p[1])


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    start, length = longest_below(100_000)
    print(f"longest chain below 100000 starts at {start}: {length} terms, peak {max(sequence(start))}")
