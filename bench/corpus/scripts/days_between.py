"""Date arithmetic: days between dates, business days, adding months."""
import calendar
import doctest
import sys
from datetime import date, timedelta


def days_between(a, b):
    """Whole days from ISO date a to b.

    >>> days_between("2024-02-01", "2024-03-01")
    29
    >>> days_between("2023-12-31", "2023-01-01")
    -364
    """
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


def business_days(start, end):
    """Weekdays in [start, end).

    >>> business_days(date(2024, 1, 1), date(2024, 1, 8))
    5
    """
    days = (end - start).days
    return sum(1 for i in range(days) if (start + timedelta(i)).weekday() < 5)


def add_months(d, months):
    """Add months, clamping to the month's last day.

    >>> add_months(date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    >>> add_months(date(2023, 11, 15), 3)
    datetime.date(2024, 2, 15)
    """
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    start = date(2024, 1, 31)
    print([add_months(start, i).isoformat() for i in range(4)])
    print(business_days(date(2024, 1, 1), date(2025, 1, 1)), "weekdays in 2024")
