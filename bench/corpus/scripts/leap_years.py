"""Leap years and the day of the year."""
import doctest
import sys


def is_leap(year):
    """Gregorian leap year rule.

    >>> [is_leap(y) for y in (1900, 2000, 2023, 2024)]
    [False, True, False, True]
    """
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def day_of_year(year, month, day):
    """Ordinal day within the year.

    >>> day_of_year(2024, 3, 1)
    61
    >>> day_of_year(2023, 12, 31)
    365
    """
    lengths = [31, 29 if is_leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not 1 <= month <= 12 or not 1 <= day <= lengths[month - 1]:
        raise ValueError(f"{year}-{month}-{day} is not a date")
    return sum(lengths[:month - 1]) + day


def leaps_between(a, b):
    """Leap years in [a, b].

    >>> leaps_between(1896, 1912)
    4
    """
    return sum(is_leap(y) for y in range(a, b + 1))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print("leap years 1600-2400:", leaps_between(1600, 2400))
    print("next five:", [y for y in range(2025, 2050) if is_leap(y)][:5])
