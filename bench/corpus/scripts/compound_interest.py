"""Savings growth with compound interest and regular deposits."""
import doctest
import math
import sys


def future_value(principal, rate, years, per_year=12):
    """Compounded per_year times a year.

    >>> round(future_value(1000, 0.05, 10), 2)
    1647.01
    >>> round(future_value(1000, 0.05, 10, per_year=1), 2)
    1628.89
    """
    return principal * (1 + rate / per_year) ** (per_year * years)


def with_deposits(monthly, rate, years):
    """Value of a deposit at the end of every month.

    >>> round(with_deposits(100, 0.06, 1), 2)
    1233.56
    """
    balance = 0.0
    for _ in range(12 * years):
        balance = balance * (1 + rate / 12) + monthly
    return balance


def years_to_double(rate):
    """Exact doubling time with yearly compounding, and the rule of 72.

    >>> years_to_double(0.08)
    (9.01, 9.0)
    """
    return round(math.log(2) / math.log(1 + rate), 2), round(72 / (rate * 100), 2)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for rate in (0.02, 0.04, 0.07):
        print(f"{rate:.0%}: 10k grows to {future_value(10_000, rate, 20):>9,.2f}; "
              f"200/month to {with_deposits(200, rate, 20):>10,.2f}; doubles in {years_to_double(rate)[0]} y")
