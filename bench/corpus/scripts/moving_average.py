"""Simple and exponential moving averages of daily temperatures."""
import doctest
import sys
from collections import deque

TEMPS = [3.1, 4.0, 2.2, 5.8, 7.1, 6.4, 8.0, 9.3, 7.7, 10.2, 11.0, 9.8, 12.4, 13.1]


def sma(values, window):
    """Simple moving average once the window is full.

    >>> sma([1, 2, 3, 4, 5], 3)
    [2.0, 3.0, 4.0]
    """
    out, buf, total = [], deque(), 0.0
    for v in values:
        buf.append(v)
        total += v
        if len(buf) > window:
            total -= buf.popleft()
        if len(buf) == window:
            out.append(total / window)
    return out


def ema(values, alpha):
    """Exponential moving average, seeded with the first value.

    >>> ema([10, 20, 20], 0.5)
    [10, 15.0, 17.5]
    """
    out = [values[0]]
    for v in values[1:]:
        out.append(alpha * v + (1 - alpha) * out[-1])
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print("7-day:", [round(x, 2) for x in sma(TEMPS, 7)])
    print("ema  :", [round(x, 2) for x in ema(TEMPS, 0.3)][-3:])
