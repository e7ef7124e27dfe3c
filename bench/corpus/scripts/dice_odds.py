"""Exact odds of dice totals, checked by a seeded simulation."""
import doctest
import random
import sys
from fractions import Fraction


def total_distribution(dice, sides=6):
    """Probability of each total of `dice` fair dice, by convolution.

    >>> d = total_distribution(2)
    >>> d[7], d[2], sum(d.values())
    (Fraction(1, 6), Fraction(1, 36), Fraction(1, 1))
    """
    dist = {0: Fraction(1)}
    for _ in range(dice):
        nxt = {}
        for total, p in dist.items():
            for face in range(1, sides + 1):
                nxt[total + face] = nxt.get(total + face, 0) + p / sides
        dist = nxt
    return dist


def at_least(dist, target):
    """Chance the total is target or more.

    >>> at_least(total_distribution(3), 15)
    Fraction(5, 54)
    """
    return sum(p for total, p in dist.items() if total >= target)


def simulate(dice, target, rolls, seed):
    """Observed share of rolls reaching target.

    >>> simulate(1, 6, 600, seed=1)
    0.14
    """
    rng = random.Random(seed)
    hits = sum(sum(rng.randint(1, 6) for _ in range(dice)) >= target for _ in range(rolls))
    return hits / rolls


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    two = total_distribution(2)
    for total, p in sorted(two.items()):
        print(f"{total:>2} {str(p):>5} {'#' * int(p * 72)}")
    for dice, target in [(2, 10), (3, 15), (4, 20)]:
        exact = at_least(total_distribution(dice), target)
        print(f"{dice}d6 >= {target}: exact {float(exact):.4f}, simulated {simulate(dice, target, 5000, seed=dice):.4f}")
