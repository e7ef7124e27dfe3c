"""Estimate pi and an integral by seeded Monte Carlo sampling."""
import doctest
import math
import random
import sys


def estimate_pi(samples, seed):
    """Four times the share of random points inside the unit quarter circle.

    >>> abs(estimate_pi(20000, 1) - math.pi) < 0.05
    True
    """
    rng = random.Random(seed)
    inside = sum(rng.random() ** 2 + rng.random() ** 2 <= 1 for _ in range(samples))
    return 4 * inside / samples


def integrate(f, a, b, samples, seed):
    """Mean of f at uniform points in [a, b], times (b - a).

    >>> round(integrate(lambda x: x * x, 0, 3, 20000, 2), 0)
    9.0
    """
    rng = random.Random(seed)
    return (b - a) * sum(f(rng.uniform(a, b)) for _ in range(samples)) / samples


def standard_error(samples, p=math.pi / 4):
    """Expected error of the pi estimate for a sample count.

    >>> round(standard_error(10000), 4)
    0.0164
    """
    return 4 * math.sqrt(p * (1 - p) / samples)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for n in (1000, 10000, 100000):
        est = estimate_pi(n, seed=42)
        print(f"n={n:>6}: pi ~ {est:.5f}  error {abs(est - math.pi):.5f}  expected ~{standard_error(n):.5f}")
    area = integrate(math.sin, 0, math.pi, 50000, seed=9)
    print(f"integral of sin over [0, pi] ~ {area:.4f} (exact 2)")
