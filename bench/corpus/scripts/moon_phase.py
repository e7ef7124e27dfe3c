"""Approximate phases of the Moon from a known new moon."""
import doctest
import sys
from datetime import datetime, timedelta, timezone

SYNODIC = 29.530588853  # days from new moon to new moon
NEW_MOON = datetime(2000, 1, 6, 18, 14, tzinfo=timezone.utc)
PHASES = ["new moon", "waxing crescent", "first quarter", "waxing gibbous",
          "full moon", "waning gibbous", "last quarter", "waning crescent"]


def age(when):
    """Days since the last new moon, in [0, SYNODIC).

    >>> round(age(datetime(2000, 1, 21, 4, 40, tzinfo=timezone.utc)), 1)
    14.4
    """
    return ((when - NEW_MOON).total_seconds() / 86400) % SYNODIC


def phase(when):
    """The phase's name, eight equal slices of the cycle centred on each.

    >>> phase(datetime(2024, 4, 8, 18, 0, tzinfo=timezone.utc))
    'new moon'
    >>> phase(datetime(2024, 4, 23, 23, 0, tzinfo=timezone.utc))
    'full moon'
    """
    return PHASES[int((age(when) / SYNODIC * 8 + 0.5) % 8)]


def next_full(after):
    """The next mean full moon after a moment, down to the hour.

    >>> next_full(datetime(2024, 4, 10, tzinfo=timezone.utc)).strftime("%Y-%m-%d")
    '2024-04-23'
    """
    days = (SYNODIC / 2 - age(after)) % SYNODIC
    return (after + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    for week in range(5):
        day = start + timedelta(days=7 * week)
        print(f"{day:%a %d %b}: {phase(day):<16} age {age(day):5.2f} days")
    t = start
    for _ in range(3):
        t = next_full(t)
        print("full moon about", t.strftime("%Y-%m-%d %H:00 UTC"))
        t += timedelta(days=1)
