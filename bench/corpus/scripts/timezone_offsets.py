"""Meeting times across fixed-offset time zones."""
import doctest
import sys
from datetime import datetime, timedelta, timezone

OFFICES = {"London": 0, "New York": -5, "Berlin": 1, "Mumbai": 5.5, "Tokyo": 9, "Sydney": 11}


def zone(hours):
    """A fixed-offset zone.

    >>> zone(5.5)
    datetime.timezone(datetime.timedelta(seconds=19800))
    """
    return timezone(timedelta(hours=hours))


def local_times(utc, offices):
    """Local wall-clock time in each office.

    >>> t = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
    >>> local_times(t, {"A": -5, "B": 9})
    {'A': '10:00 Wed', 'B': '00:00 Thu'}
    """
    return {name: utc.astimezone(zone(h)).strftime("%H:%M %a") for name, h in offices.items()}


def working_hours_overlap(offices, start=9, end=17):
    """UTC hours when every office is within start..end local.

    >>> working_hours_overlap({"A": 0, "B": 1})
    [9, 10, 11, 12, 13, 14, 15]
    """
    return [h for h in range(24) if all(start <= (h + off) % 24 < end for off in offices.values())]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    meeting = datetime(2026, 12, 2, 13, 30, tzinfo=timezone.utc)
    for office, t in local_times(meeting, OFFICES).items():
        print(f"{office:<9} {t}")
    print("London/Berlin/Mumbai overlap (UTC):",
          working_hours_overlap({k: OFFICES[k] for k in ("London", "Berlin", "Mumbai")}))
