"""Fit a straight line to monthly figures and forecast the next ones."""
import doctest
import sys

# month number, active users (thousands)
USERS = [(1, 12.1), (2, 13.4), (3, 13.9), (4, 15.2), (5, 16.8), (6, 17.1),
         (7, 18.9), (8, 19.6), (9, 21.3), (10, 22.0), (11, 23.8), (12, 24.5)]


def fit(points):
    """Least-squares (slope, intercept).

    >>> fit([(0, 1), (1, 3), (2, 5)])
    (2.0, 1.0)
    """
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    return slope, my - slope * mx


def r_squared(points, slope, intercept):
    """Share of the variance the line explains.

    >>> r_squared([(0, 1), (1, 3), (2, 5)], 2.0, 1.0)
    1.0
    >>> round(r_squared([(0, 0), (1, 2), (2, 1)], 0.5, 0.5), 2)
    0.25
    """
    my = sum(y for _, y in points) / len(points)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in points)
    total = sum((y - my) ** 2 for _, y in points)
    return 1 - residual / total


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    slope, intercept = fit(USERS)
    print(f"users = {slope:.3f} * month + {intercept:.3f}  (R^2 {r_squared(USERS, slope, intercept):.4f})")
    for month in (13, 18, 24):
        print(f"month {month}: {slope * month + intercept:.1f}k forecast")
    worst = max(USERS, key=lambda p: abs(p[1] - (slope * p[0] + intercept)))
    print(f"largest residual: month {worst[0]} ({worst[1] - (slope * worst[0] + intercept):+.2f}k)")
