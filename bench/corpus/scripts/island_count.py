"""Count and measure islands on a text map with flood fill."""
import doctest
import sys

MAP = """\
~~##~~~~~~~~~~~~#~~~
~###~~~~~~###~~~##~~
~~#~~~~~~#####~~~~~~
~~~~~~~~~~###~~~~~~~
~~~~##~~~~~#~~~~##~~
~~~~###~~~~~~~~###~~
~~~~~#~~~~~~~~~~#~~~
~#~~~~~~~~~~~~~~~~~#"""


def islands(grid):
    """Sizes of 4-connected groups of '#', in reading order of their first cell.

    >>> islands(["#~#", "#~~", "~~#"])
    [2, 1, 1]
    """
    seen, sizes = set(), []
    for r, row in enumerate(grid):
        for c, ch in enumerate(row):
            if ch != "#" or (r, c) in seen:
                continue
            stack, size = [(r, c)], 0
            seen.add((r, c))
            while stack:
                y, x = stack.pop()
                size += 1
                for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                    if 0 <= ny < len(grid) and 0 <= nx < len(grid[ny]) and grid[ny][nx] == "#" and (ny, nx) not in seen:
                        seen.add((ny, nx))
                        stack.append((ny, nx))
            sizes.append(size)
    return sizes


def coastline(grid):
    """Land-cell edges that touch water or the map's border.

    >>> coastline(["~#~", "~##"])
    8
    """
    edges = 0
    for r, row in enumerate(grid):
        for c, ch in enumerate(row):
            if ch == "#":
                for ny, nx in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                    inside = 0 <= ny < len(grid) and 0 <= nx < len(grid[ny])
                    edges += not inside or grid[ny][nx] != "#"
    return edges


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    grid = MAP.splitlines()
    sizes = islands(grid)
    print(f"{len(sizes)} islands, sizes {sizes}")
    print(f"land {sum(sizes)} of {len(grid) * len(grid[0])} cells, largest {max(sizes)}, coastline {coastline(grid)}")
