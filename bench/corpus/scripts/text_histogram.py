"""Draw horizontal bar charts in text."""
import doctest
import sys

RAINFALL = {"Jan": 78.2, "Feb": 55.1, "Mar": 61.0, "Apr": 43.9, "May": 50.4, "Jun": 45.0,
            "Jul": 44.7, "Aug": 49.5, "Sep": 52.3, "Oct": 73.8, "Nov": 77.6, "Dec": 80.1}


def bar(value, maximum, width):
    """A bar of eighth blocks scaled so maximum fills width.

    >>> bar(1, 2, 4)
    '██'
    >>> bar(1, 8, 1)
    '▏'
    """
    eighths = round(value / maximum * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])


def chart(data, width=30):
    """Lines of label, bar and value.

    >>> print(chart({"a": 2, "b": 1}, 4))
    a ████ 2
    b ██ 1
    """
    top = max(data.values())
    label_width = max(map(len, data))
    return "\n".join(f"{k:<{label_width}} {bar(v, top, width)} {v}" for k, v in data.items())


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(chart(RAINFALL))
