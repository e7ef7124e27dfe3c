"""Next run times of five-field cron expressions."""
import doctest
import sys
from datetime import datetime, timedelta

BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]  # minute hour day month weekday


def field(spec, low, high):
    """The set of values a cron field allows, as a sorted list.

    >>> field("*/15", 0, 59)
    [0, 15, 30, 45]
    >>> field("1-5", 0, 6)
    [1, 2, 3, 4, 5]
    >>> field("3,10-12,20-30/5", 0, 59)
    [3, 10, 11, 12, 20, 25, 30]
    """
    values = set()
    for part in spec.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            start, end = map(int, rng.split("-"))
        else:
            start = end = int(rng)
        values.update(range(start, end + 1, int(step or 1)))
    return sorted(values)


def next_runs(expr, after, count):
    """The next count minutes after `after` matching expr (weekday 0 = Sunday).

    As in cron, when both day and weekday are restricted either may match.

    >>> [t.strftime("%a %H:%M") for t in next_runs("30 9 * * 1-5", datetime(2026, 12, 4, 10, 0), 2)]
    ['Mon 09:30', 'Tue 09:30']
    >>> [t.strftime("%a %d") for t in next_runs("0 0 13 * 5", datetime(2026, 11, 1), 3)]
    ['Fri 06', 'Fri 13', 'Fri 20']
    """
    specs = expr.split()
    minutes, hours, days, months, weekdays = (set(field(s, *b)) for s, b in zip(specs, BOUNDS))
    either = specs[2] != "*" and specs[4] != "*"
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    runs = []
    while len(runs) < count:
        day_ok, weekday_ok = t.day in days, (t.isoweekday() % 7) in weekdays
        if t.month not in months or not ((day_ok or weekday_ok) if either else (day_ok and weekday_ok)):
            t = t.replace(hour=0, minute=0) + timedelta(days=1)
        elif t.hour not in hours:
            t = t.replace(minute=0) + timedelta(hours=1)
        else:
            if t.minute in minutes:
                runs.append(t)
            t += timedelta(minutes=1)
    return runs


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    now = datetime(2026, 12, 31, 22, 50)
    for expr in ["*/20 * * * *", "0 0 1 * *", "15 3 * * 0", "0 8-10 * 1 1-5"]:
        print(f"{expr:<16}", ", ".join(t.strftime("%Y-%m-%d %H:%M") for t in next_runs(expr, now, 3)))
