"""Count and show solutions of the N-queens puzzle."""
import doctest
import sys


def solutions(n):
    """All placements as column lists, row by row.

    >>> solutions(4)
    [[1, 3, 0, 2], [2, 0, 3, 1]]
    >>> len(solutions(6))
    4
    """
    out, cols = [], []

    def place(row, used, diag1, diag2):
        if row == n:
            out.append(list(cols))
            return
        for c in range(n):
            if c in used or row - c in diag1 or row + c in diag2:
                continue
            cols.append(c)
            place(row + 1, used | {c}, diag1 | {row - c}, diag2 | {row + c})
            cols.pop()

    place(0, frozenset(), frozenset(), frozenset())
    return out


def board(cols):
    """Draw a placement.

    >>> print(board([1, 3, 0, 2]))
    . Q . .
    . . . Q
    Q . . .
    . . Q .
    """
    return "\n".join(" ".join("Q" if c == q else "." for c in range(len(cols))) for q in cols)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    eight = solutions(8)
    print(len(eight), "solutions for 8 queens; the first:")
    print(board(eight[0]))
