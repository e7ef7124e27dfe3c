"""Ages in years, months and days, and upcoming birthdays."""
import doctest
import sys
from datetime import date

PEOPLE = {"Ada": date(1815, 12, 10), "Grace": date(1906, 12, 9), "Linus": date(1969, 12, 28),
          "Leap": date(2000, 2, 29)}
TODAY = date(2026, 12, 2)


def age(born, on):
    """(years, months, days) completed.

    >>> age(date(2000, 1, 15), date(2000, 3, 1))
    (0, 1, 15)
    >>> age(date(1990, 6, 15), date(2026, 6, 14))
    (35, 11, 30)
    """
    years, months = on.year - born.year, on.month - born.month
    days = on.day - born.day
    if days < 0:
        months -= 1
        prev_month_end = date(on.year, on.month, 1).toordinal() - 1
        days += date.fromordinal(prev_month_end).day
    if months < 0:
        years -= 1
        months += 12
    return years, months, days


def next_birthday(born, on):
    """The next birthday on or after on; 29 February falls on 1 March.

    >>> next_birthday(date(2000, 2, 29), date(2026, 12, 2))
    datetime.date(2027, 3, 1)
    """
    for year in (on.year, on.year + 1):
        try:
            b = born.replace(year=year)
        except ValueError:
            b = date(year, 3, 1)
        if b >= on:
            return b


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for name, born in PEOPLE.items():
        y, m, d = age(born, TODAY)
        print(f"{name:<6} {y:>3}y {m:>2}m {d:>2}d, next birthday in {(next_birthday(born, TODAY) - TODAY).days} days")
