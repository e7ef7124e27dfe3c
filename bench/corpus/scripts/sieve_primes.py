"""Primes with the sieve of Eratosthenes, and twin primes."""
import doctest
import sys


def sieve(limit):
    """Primes below limit.

    >>> sieve(30)
    [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    >>> sieve(2)
    []
    """
    if limit < 3:
        return []
    is_prime = bytearray([1]) * limit
    is_prime[0] = is_prime[1] = 0
    for p in range(2, int(limit ** 0.5) + 1):
        if is_prime[p]:
            is_prime[p * p::p] = bytearray(len(range(p * p, limit, p)))
    return [i for i, flag in enumerate(is_prime) if flag]


def twin_primes(primes):
    """Pairs of primes two apart.

    >>> twin_primes([3, 5, 7, 11, 13, 17])
    [(3, 5), (5, 7), (11, 13)]
    """
    return [(a, b) for a, b in zip(primes, primes[1:]) if b - a == 2]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    primes = sieve(200_000)
    print(len(primes), "primes below 200000; largest", primes[-1])
    print(len(twin_primes(primes)), "twin pairs")
