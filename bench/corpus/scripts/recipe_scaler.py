"""Scale a recipe with exact fractions and friendly kitchen amounts."""
import doctest
import sys
from fractions import Fraction

RECIPE = [("flour", "2 1/4", "cup"), ("sugar", "3/4", "cup"), ("butter", "1", "cup"),
          ("eggs", "2", ""), ("vanilla", "1 1/2", "tsp"), ("salt", "1/2", "tsp")]


def parse_amount(text):
    """'1 1/2' -> Fraction(3, 2).

    >>> parse_amount("2 1/4"), parse_amount("3/4"), parse_amount("2")
    (Fraction(9, 4), Fraction(3, 4), Fraction(2, 1))
    """
    return sum((Fraction(p) for p in text.split()), Fraction(0))


def friendly(amount):
    """A mixed number rounded to eighths.

    >>> friendly(Fraction(27, 8)), friendly(Fraction(1, 3)), friendly(Fraction(4))
    ('3 3/8', '3/8', '4')
    """
    eighths = round(amount * 8)
    whole, rest = divmod(eighths, 8)
    frac = Fraction(rest, 8)
    if not frac:
        return str(whole)
    return f"{whole} {frac}" if whole else str(frac)


def scale(recipe, servings_from, servings_to):
    """Each ingredient scaled.

    >>> scale([("x", "1/2", "cup")], 4, 6)
    [('x', '3/4', 'cup')]
    """
    k = Fraction(servings_to, servings_from)
    return [(name, friendly(parse_amount(a) * k), unit) for name, a, unit in recipe]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for name, amount, unit in scale(RECIPE, 24, 36):
        print(f"{amount:>6} {unit:<4} {name}")
