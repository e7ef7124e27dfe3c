"""Prime factorisation by trial division, and what it tells about a number."""
import doctest
import sys
from collections import Counter
from math import prod


def factorize(n):
    """Prime factors with multiplicity, ascending.

    >>> factorize(360)
    [2, 2, 2, 3, 3, 5]
    >>> factorize(97)
    [97]
    """
    factors, d = [], 2
    while d * d <= n:
        while n % d == 0:
            factors.append(d)
            n //= d
        d += 1 if d == 2 else 2
    if n > 1:
        factors.append(n)
    return factors


def divisor_count(n):
    """Number of divisors from the exponents.

    >>> divisor_count(360)
    24
    """
    return prod(e + 1 for e in Counter(factorize(n)).values())


def pretty(n):
    """n = p^e * ...

    >>> pretty(720)
    '720 = 2^4 * 3^2 * 5'
    """
    parts = [f"{p}^{e}" if e > 1 else str(p) for p, e in sorted(Counter(factorize(n)).items())]
    return f"{n} = " + " * ".join(parts)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for n in (2**32 + 1, 600851475143, 1234567890):
        print(pretty(n))
    print("most divisors below 10000:", max(range(1, 10000), key=divisor_count))
