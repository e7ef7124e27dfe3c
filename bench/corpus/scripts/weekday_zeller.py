"""Day of the week by Zeller's congruence, checked with datetime."""
import doctest
import sys
from datetime import date

NAMES = ["Saturday", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def zeller(year, month, day):
    """Index into NAMES for a Gregorian date.

    >>> NAMES[zeller(2000, 1, 1)]
    'Saturday'
    >>> NAMES[zeller(1969, 7, 20)]
    'Sunday'
    """
    if month < 3:
        month += 12
        year -= 1
    k, j = year % 100, year // 100
    return (day + 13 * (month + 1) // 5 + k + k // 4 + j // 4 + 5 * j) % 7


def friday_13ths(year):
    """Months of year with a Friday the 13th.

    >>> friday_13ths(2026)
    [2, 3, 11]
    """
    return [m for m in range(1, 13) if NAMES[zeller(year, m, 13)] == "Friday"]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for y in range(1990, 2030):
        for m in (1, 6, 12):
            assert NAMES[zeller(y, m, 13)] == date(y, m, 13).strftime("%A")
    print({y: friday_13ths(y) for y in range(2025, 2030)})
