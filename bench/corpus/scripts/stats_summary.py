"""Descriptive statistics of exam scores, by hand and with statistics."""
import doctest
import statistics
import sys

SCORES = [72, 85, 91, 64, 78, 88, 95, 70, 82, 77, 69, 90, 84, 73, 80, 58, 99, 86, 75, 81]


def mean(xs):
    """Arithmetic mean.

    >>> mean([1, 2, 3, 4])
    2.5
    """
    return sum(xs) / len(xs)


def median(xs):
    """Middle value, or the mean of the two middle ones.

    >>> median([5, 1, 3]), median([4, 1, 3, 2])
    (3, 2.5)
    """
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def stdev(xs):
    """Sample standard deviation.

    >>> round(stdev([2, 4, 4, 4, 5, 5, 7, 9]), 4)
    2.1381
    """
    m = mean(xs)
    return (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    assert abs(stdev(SCORES) - statistics.stdev(SCORES)) < 1e-9
    assert median(SCORES) == statistics.median(SCORES)
    q = statistics.quantiles(SCORES, n=4)
    print(f"n={len(SCORES)} mean={mean(SCORES):.2f} median={median(SCORES)} sd={stdev(SCORES):.2f} quartiles={q}")
