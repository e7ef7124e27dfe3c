"""Greatest common divisor, least common multiple and Bezout coefficients."""
import doctest
import sys
from functools import reduce


def gcd(a, b):
    """Euclid's algorithm.

    >>> gcd(1071, 462)
    21
    >>> gcd(0, 5)
    5
    """
    while b:
        a, b = b, a % b
    return abs(a)


def lcm(*nums):
    """Least common multiple of all arguments.

    >>> lcm(4, 6, 10)
    60
    """
    return reduce(lambda x, y: x * y // gcd(x, y), nums)


def bezout(a, b):
    """(g, x, y) with a*x + b*y == g == gcd(a, b).

    >>> bezout(240, 46)
    (2, -9, 47)
    """
    x0, x1, y0, y1 = 1, 0, 0, 1
    while b:
        q, a, b = a // b, b, a % b
        x0, x1 = x1, x0 - q * x1
        y0, y1 = y1, y0 - q * y1
    return a, x0, y0


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print("lcm(1..20) =", lcm(*range(1, 21)))
    g, x, y = bezout(2024, 1105)
    print(f"gcd(2024, 1105) = {g} = 2024*{x} + 1105*{y}")
