"""Fractions as sums of distinct unit fractions (the greedy method)."""
import doctest
import sys
from fractions import Fraction


def egyptian(frac):
    """Greedy decomposition of 0 < frac < 1.

    >>> egyptian(Fraction(4, 13))
    [4, 18, 468]
    >>> egyptian(Fraction(1, 3))
    [3]
    """
    if not 0 < frac < 1:
        raise ValueError(f"{frac} is not between 0 and 1")
    denominators = []
    while frac:
        d = -(-frac.denominator // frac.numerator)
        denominators.append(d)
        frac -= Fraction(1, d)
    return denominators


def show(frac):
    """The decomposition written out.

    >>> show(Fraction(3, 4))
    '3/4 = 1/2 + 1/4'
    """
    return f"{frac} = " + " + ".join(f"1/{d}" for d in egyptian(frac))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for f in (Fraction(2, 3), Fraction(5, 6), Fraction(7, 15), Fraction(5, 121)):
        assert sum(Fraction(1, d) for d in egyptian(f)) == f
        print(show(f))
