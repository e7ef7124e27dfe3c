"""Pascal's triangle, binomial coefficients and a centred print."""
import doctest
import math
import sys


def rows(n):
    """The first n rows.

    >>> rows(5)
    [[1], [1, 1], [1, 2, 1], [1, 3, 3, 1], [1, 4, 6, 4, 1]]
    """
    out = [[1]]
    for _ in range(n - 1):
        prev = out[-1]
        out.append([1] + [a + b for a, b in zip(prev, prev[1:])] + [1])
    return out[:n]


def choose(n, k):
    """Binomial coefficient from the multiplicative formula.

    >>> choose(10, 3), choose(52, 5)
    (120, 2598960)
    """
    k = min(k, n - k)
    result = 1
    for i in range(1, k + 1):
        result = result * (n - k + i) // i
    return result


def centred(triangle):
    """Rows centred on the widest one."""
    lines = [" ".join(map(str, r)) for r in triangle]
    width = len(lines[-1])
    return "\n".join(line.center(width).rstrip() for line in lines)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    assert all(choose(30, k) == math.comb(30, k) for k in range(31))
    print(centred(rows(9)))
