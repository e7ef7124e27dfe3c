"""Render rows as an aligned Markdown table."""
import doctest
import sys

PLANETS = [("Mercury", 0.39, 0.055, 0), ("Venus", 0.72, 0.815, 0), ("Earth", 1.0, 1.0, 1),
           ("Mars", 1.52, 0.107, 2), ("Jupiter", 5.2, 317.8, 95), ("Saturn", 9.58, 95.2, 146)]


def cell(value):
    """Numbers right-aligned later; here just their text.

    >>> cell(1.0), cell("x"), cell(3)
    ('1.0', 'x', '3')
    """
    return str(value)


def table(header, rows):
    """A Markdown table; numeric columns right-aligned.

    >>> print(table(["a", "n"], [["x", 1], ["yy", 22]]))
    | a  |  n |
    | :- | -: |
    | x  |  1 |
    | yy | 22 |
    """
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells), 2) for i, h in enumerate(header)]
    numeric = [all(isinstance(r[i], (int, float)) for r in rows) for i in range(len(header))]

    def line(values):
        return "| " + " | ".join(v.rjust(w) if num else v.ljust(w)
                                 for v, w, num in zip(values, widths, numeric)) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else (":" + "-" * (w - 1))
                             for w, num in zip(widths, numeric)) + " |"
    return "\n".join([line(header), rule] + [line(r) for r in cells])


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(table(["planet", "AU", "Earth masses", "moons"], PLANETS))
