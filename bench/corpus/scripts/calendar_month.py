"""Print month calendars with marked holidays."""
import calendar
import doctest
import sys

HOLIDAYS = {(12, 25): "Christmas", (12, 26): "Boxing Day", (1, 1): "New Year"}


def month_grid(year, month):
    """Weeks as lists of day numbers, 0 outside the month, weeks start Monday.

    >>> month_grid(2026, 2)[0]
    [0, 0, 0, 0, 0, 0, 1]
    """
    return calendar.Calendar(firstweekday=0).monthdayscalendar(year, month)


def render(year, month, marks=HOLIDAYS):
    """A month with holidays starred.

    >>> render(2026, 1).splitlines()[2].split()
    ['1*', '2', '3', '4']
    """
    lines = [f"{calendar.month_name[month]} {year}".center(28), " Mo  Tu  We  Th  Fr  Sa  Su"]
    for week in month_grid(year, month):
        cells = []
        for d in week:
            star = "*" if (month, d) in marks else " "
            cells.append(f"{d:>3}{star}" if d else "    ")
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(render(2026, 12))
    print("weekend holidays:", [n for (m, d), n in HOLIDAYS.items()
                                if calendar.weekday(2026 if m == 12 else 2027, m, d) >= 5])
