"""Fibonacci numbers three ways, and the golden ratio they approach."""
import doctest
import sys
from functools import lru_cache


@lru_cache(maxsize=None)
def fib_memo(n):
    """Recursive with a cache.

    >>> [fib_memo(i) for i in range(10)]
    [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
    """
    return n if n < 2 else fib_memo(n - 1) + fib_memo(n - 2)


def fib_iter(n):
    """Iterative.

    >>> fib_iter(50)
    12586269025
    """
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def fib_doubling(n):
    """Fast doubling: F(2k) = F(k)(2F(k+1) - F(k)), F(2k+1) = F(k)^2 + F(k+1)^2.

    >>> fib_doubling(100)
    354224848179261915075
    """
    def pair(k):
        if k == 0:
            return 0, 1
        a, b = pair(k // 2)
        c, d = a * (2 * b - a), a * a + b * b
        return (d, c + d) if k % 2 else (c, d)
    return pair(n)[0]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    assert fib_memo(300) == fib_iter(300) == fib_doubling(300)
    big = fib_doubling(10_000)
    print(f"F(10000) has {len(str(big))} digits; ratio {fib_iter(41) / fib_iter(40):.12f}")
