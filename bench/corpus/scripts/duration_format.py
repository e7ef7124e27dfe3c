"""Format and parse human durations like 1h 2m 3s."""
import doctest
import re
import sys

UNITS = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]


def format_duration(seconds):
    """Largest units first, zero parts left out.

    >>> format_duration(3723)
    '1h 2m 3s'
    >>> format_duration(90061)
    '1d 1h 1m 1s'
    >>> format_duration(0)
    '0s'
    """
    parts = []
    for name, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{name}")
    return " ".join(parts) or "0s"


def parse_duration(text):
    """Seconds in a string of number+unit parts.

    >>> parse_duration("2h30m"), parse_duration("1d 45s")
    (9000, 86445)
    >>> parse_duration("5 minutes")
    Traceback (most recent call last):
    ...
    ValueError: cannot read '5 minutes' as a duration (like 1h 30m)
    """
    compact = text.replace(" ", "")
    if not re.fullmatch(r"(\d+[dhms])+", compact):
        raise ValueError(f"cannot read {text!r} as a duration (like 1h 30m)")
    size = dict(UNITS)
    return sum(int(n) * size[u] for n, u in re.findall(r"(\d+)([dhms])", compact))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    laps = ["4m 31s", "4m 28s", "4m 40s", "4m 19s", "4m 35s"]
    total = sum(map(parse_duration, laps))
    print("total", format_duration(total), "average", format_duration(total // len(laps)))
