"""Summarise a small CSV of sales by region."""
import csv
import doctest
import io
import sys
from collections import defaultdict

DATA = """date,region,product,units,price
2024-01-03,North,widget,12,2.50
2024-01-03,South,gadget,3,10.00
2024-01-04,North,gadget,5,10.00
2024-01-05,East,widget,20,2.50
2024-01-05,South,widget,7,2.50
2024-01-06,East,gizmo,2,25.00
2024-01-07,North,gizmo,1,25.00
"""


def revenue_by(rows, key):
    """Total units*price grouped by column key, largest first.

    >>> rows = [{"r": "a", "units": "2", "price": "1.5"},
    ...         {"r": "b", "units": "1", "price": "10"},
    ...         {"r": "a", "units": "1", "price": "1"}]
    >>> revenue_by(rows, "r")
    [('b', 10.0), ('a', 4.0)]
    """
    totals = defaultdict(float)
    for row in rows:
        totals[row[key]] += int(row["units"]) * float(row["price"])
    return sorted(totals.items(), key=lambda kv: -kv[1])


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    rows = list(csv.DictReader(io.StringIO(DATA)))
    for region, total in revenue_by(rows, "region"):
        print(f"{region:<6}{total:>8.2f}")
    print(f"{'total':<6}{sum(t for _, t in revenue_by(rows, 'region')):>8.2f}")
