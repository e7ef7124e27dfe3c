"""Conway's Game of Life on a small wrapping board."""
import doctest
import sys

GLIDER = {(0, 1), (1, 2), (2, 0), (2, 1), (2, 2)}


def neighbours(cell, rows, cols):
    """The eight cells around cell, wrapping at the edges.

    >>> sorted(neighbours((0, 0), 3, 3))[:3]
    [(0, 1), (0, 2), (1, 0)]
    """
    r, c = cell
    return [((r + dr) % rows, (c + dc) % cols)
            for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]


def step(live, rows, cols):
    """One generation: birth on 3 neighbours, survival on 2 or 3.

    >>> blinker = {(1, 0), (1, 1), (1, 2)}
    >>> sorted(step(blinker, 5, 5))
    [(0, 1), (1, 1), (2, 1)]
    >>> step(step(blinker, 5, 5), 5, 5) == blinker
    True
    """
    counts = {}
    for cell in live:
        for n in neighbours(cell, rows, cols):
            counts[n] = counts.get(n, 0) + 1
    return {cell for cell, k in counts.items() if k == 3 or (k == 2 and cell in live)}


def render(live, rows, cols):
    """The board as text, '#' for a live cell.

    >>> print(render({(0, 1)}, 2, 3))
    .#.
    ...
    """
    return "\n".join("".join("#" if (r, c) in live else "." for c in range(cols)) for r in range(rows))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    rows, cols, board = 8, 8, set(GLIDER)
    for gen in range(32):
        if gen % 8 == 0:
            print(f"generation {gen}, {len(board)} live")
            print(render(board, rows, cols))
        board = step(board, rows, cols)
    print("generation 32 is generation 0 again:", board == GLIDER)
