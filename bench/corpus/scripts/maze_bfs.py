"""Shortest path through a text maze by breadth-first search."""
import doctest
import sys
from collections import deque

MAZE = """\
##########
#S   #   #
# ## # # #
#  #   # #
## ##### #
#      #E#
##########"""


def find(grid, ch):
    """Row and column of the first ch.

    >>> find(["ab", "cd"], "d")
    (1, 1)
    """
    for r, row in enumerate(grid):
        if ch in row:
            return r, row.index(ch)
    raise ValueError(f"no {ch!r} in the maze")


def shortest_path(grid):
    """Steps from S to E, or None if there is no way.

    >>> shortest_path(["S.E"])
    2
    >>> shortest_path(["S#E"]) is None
    True
    """
    start, end = find(grid, "S"), find(grid, "E")
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        (r, c), d = queue.popleft()
        if (r, c) == end:
            return d
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < len(grid) and 0 <= nc < len(grid[nr]) \
                    and grid[nr][nc] != "#" and (nr, nc) not in seen:
                seen.add((nr, nc))
                queue.append(((nr, nc), d + 1))
    return None


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print("shortest path:", shortest_path(MAZE.splitlines()), "steps")
