"""Convert between integers and Roman numerals."""
import doctest
import sys

PAIRS = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"),
         (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"),
         (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    """Roman numeral for 1 <= n <= 3999.

    >>> to_roman(1994)
    'MCMXCIV'
    >>> to_roman(4)
    'IV'
    >>> to_roman(0)
    Traceback (most recent call last):
    ...
    ValueError: 0 is out of range 1..3999
    """
    if not 1 <= n <= 3999:
        raise ValueError(f"{n} is out of range 1..3999")
    out = []
    for value, letters in PAIRS:
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)


def from_roman(s):
    """Integer value of a Roman numeral.

    >>> from_roman("MMXXIV")
    2024
    >>> from_roman("xlii")
    42
    """
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    s = s.upper()
    total = 0
    for i, ch in enumerate(s):
        v = values[ch]
        if i + 1 < len(s) and values[s[i + 1]] > v:
            total -= v
        else:
            total += v
    return total


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    assert all(from_roman(to_roman(i)) == i for i in range(1, 4000))
    print(" ".join(to_roman(y) for y in (1066, 1492, 1776, 1969, 2026)))
