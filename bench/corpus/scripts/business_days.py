"""Count working days and add them to dates, skipping holidays."""
import doctest
import sys
from datetime import date, timedelta

HOLIDAYS = {date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)}


def is_business_day(day, holidays=frozenset()):
    """Monday to Friday and not a holiday.

    >>> is_business_day(date(2026, 12, 5)), is_business_day(date(2026, 12, 7))
    (False, True)
    """
    return day.weekday() < 5 and day not in holidays


def business_days_between(start, end, holidays=frozenset()):
    """Working days in [start, end).

    >>> business_days_between(date(2026, 12, 1), date(2026, 12, 8))
    5
    >>> business_days_between(date(2026, 12, 21), date(2027, 1, 4), HOLIDAYS)
    7
    """
    return sum(is_business_day(start + timedelta(days=i), holidays) for i in range((end - start).days))


def add_business_days(start, n, holidays=frozenset()):
    """The date n working days after start.

    >>> add_business_days(date(2026, 12, 4), 1)
    datetime.date(2026, 12, 7)
    >>> add_business_days(date(2026, 12, 24), 2, HOLIDAYS)
    datetime.date(2026, 12, 30)
    """
    day = start
    while n > 0:
        day += timedelta(days=1)
        n -= is_business_day(day, holidays)
    return day


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    orders = [date(2026, 12, 18), date(2026, 12, 23), date(2026, 12, 31)]
    for placed in orders:
        due = add_business_days(placed, 5, HOLIDAYS)
        print(f"ordered {placed:%a %d %b}, ships by {due:%a %d %b %Y}")
    print("working days in December:", business_days_between(date(2026, 12, 1), date(2027, 1, 1), HOLIDAYS))
