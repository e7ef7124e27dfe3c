"""Classify numbers as perfect, abundant or deficient."""
import doctest
import sys


def divisor_sum_table(limit):
    """Sum of proper divisors for 0..limit-1, by a sieve.

    >>> divisor_sum_table(13)[12]
    16
    """
    sums = [0] * limit
    for d in range(1, limit // 2 + 1):
        for m in range(2 * d, limit, d):
            sums[m] += d
    return sums


def classify(n, s):
    """Kind of n given the sum s of its proper divisors.

    >>> classify(6, 6), classify(12, 16), classify(8, 7)
    ('perfect', 'abundant', 'deficient')
    """
    return "perfect" if s == n else "abundant" if s > n else "deficient"


def amicable_pairs(sums):
    """Pairs (a, b), a < b, whose divisor sums point at each other.

    >>> amicable_pairs(divisor_sum_table(300))
    [(220, 284)]
    """
    return [(a, b) for a, b in enumerate(sums) if a < b < len(sums) and sums[b] == a]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    sums = divisor_sum_table(20000)
    kinds = [classify(n, sums[n]) for n in range(1, 20000)]
    print("perfect:", [n for n in range(1, 20000) if kinds[n - 1] == "perfect"])
    print("abundant:", kinds.count("abundant"), "amicable:", amicable_pairs(sums))
