"""Pivot a CSV of expenses into a month-by-category table."""
import csv
import doctest
import io
import sys
from collections import defaultdict

EXPENSES = """date,category,amount
2026-01-04,groceries,82.10
2026-01-09,transport,45.00
2026-01-15,groceries,64.35
2026-01-28,utilities,120.00
2026-02-02,groceries,71.80
2026-02-11,eating out,38.50
2026-02-19,transport,45.00
2026-03-01,utilities,118.40
2026-03-07,groceries,90.25
2026-03-21,eating out,52.00
2026-03-30,transport,12.60
"""


def pivot(rows, row_key, col_key, value):
    """Sum value into a {row: {col: total}} table.

    >>> rows = [{"m": "1", "c": "x", "v": "2"}, {"m": "1", "c": "x", "v": "3"}, {"m": "2", "c": "y", "v": "1"}]
    >>> pivot(rows, lambda r: r["m"], lambda r: r["c"], lambda r: float(r["v"]))
    {'1': {'x': 5.0}, '2': {'y': 1.0}}
    """
    table = defaultdict(lambda: defaultdict(float))
    for row in rows:
        table[row_key(row)][col_key(row)] += value(row)
    return {r: dict(cols) for r, cols in table.items()}


def render(table):
    """A fixed-width table with row and column totals.

    >>> print(render({"a": {"x": 1.0}, "b": {"x": 2.0, "y": 0.5}}))
    month              x           y       total
    a               1.00        0.00        1.00
    b               2.00        0.50        2.50
    total           3.00        0.50        3.50
    """
    cols = sorted({c for row in table.values() for c in row})
    lines = [f"{'month':<8}" + "".join(f"{c:>12}" for c in cols + ["total"])]
    for name in sorted(table) + ["total"]:
        row = table.get(name) or {c: sum(r.get(c, 0) for r in table.values()) for c in cols}
        cells = [row.get(c, 0.0) for c in cols]
        lines.append(f"{name:<8}" + "".join(f"{v:>12.2f}" for v in cells + [sum(cells)]))
    return "\n".join(lines)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    rows = list(csv.DictReader(io.StringIO(EXPENSES)))
    table = pivot(rows, lambda r: r["date"][:7], lambda r: r["category"], lambda r: float(r["amount"]))
    print(render(table))
