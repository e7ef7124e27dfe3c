"""Dates of Easter and the holidays that follow it."""
import doctest
import sys
from datetime import date, timedelta


def easter(year):
    """Western (Gregorian) Easter Sunday, by the anonymous algorithm.

    >>> easter(2024), easter(2025), easter(2038)
    (datetime.date(2024, 3, 31), datetime.date(2025, 4, 20), datetime.date(2038, 4, 25))
    """
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


MOVABLE = {"Good Friday": -2, "Easter Monday": 1, "Ascension": 39, "Whit Monday": 50}


def movable_feasts(year):
    """Holidays at fixed offsets from Easter.

    >>> movable_feasts(2026)["Ascension"]
    datetime.date(2026, 5, 14)
    """
    sunday = easter(year)
    return {name: sunday + timedelta(days=offset) for name, offset in MOVABLE.items()}


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for year in range(2025, 2031):
        feasts = movable_feasts(year)
        print(year, easter(year).strftime("%d %b"),
              " ".join(f"{n.split()[0][:4]}={d:%d.%m}" for n, d in feasts.items()))
    earliest = min(range(1900, 2100), key=lambda y: (easter(y).month, easter(y).day))
    print("earliest Easter 1900-2099:", easter(earliest))
