"""Validate a completed Sudoku grid."""
import doctest
import sys

GRID = """
534678912
672195348
198342567
859761423
426853791
713924856
961537284
287419635
345286179
"""


def parse(text):
    """Rows of digits.

    >>> parse("12\\n34")
    [[1, 2], [3, 4]]
    """
    return [[int(c) for c in line] for line in text.split()]


def units(grid):
    """Every row, column and 3x3 box of a 9x9 grid."""
    rows = grid
    cols = [list(c) for c in zip(*grid)]
    boxes = [[grid[r][c] for r in range(br, br + 3) for c in range(bc, bc + 3)]
             for br in (0, 3, 6) for bc in (0, 3, 6)]
    return rows + cols + boxes


def problems(grid):
    """Names of the units that are not 1..9 exactly once.

    >>> g = parse(GRID); problems(g)
    []
    >>> g[0][0], g[0][1] = g[0][1], g[0][0]; problems(g)
    ['column 1', 'column 2']
    """
    names = [f"row {i + 1}" for i in range(9)] + [f"column {i + 1}" for i in range(9)] \
        + [f"box {i + 1}" for i in range(9)]
    return [n for n, u in zip(names, units(grid)) if sorted(u) != list(range(1, 10))]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    bad = problems(parse(GRID))
    print("valid" if not bad else "invalid: " + ", ".join(bad))
