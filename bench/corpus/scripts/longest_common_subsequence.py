"""Longest common subsequence and a line diff built on it."""
import doctest
import sys

OLD = ["import os", "def main():", "    print('hi')", "    return 0", "main()"]
NEW = ["import os", "import sys", "def main():", "    print('hello')", "    return 0", "main()"]


def lcs(a, b):
    """A longest common subsequence of two sequences.

    >>> "".join(lcs("ABCBDAB", "BDCABA"))
    'BDAB'
    """
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            out.append(a[i]); i += 1; j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return out


def diff(old, new):
    """Lines prefixed with ' ', '-' or '+'.

    >>> diff(["a", "b"], ["a", "c"])
    [' a', '-b', '+c']
    """
    common, out, i, j = lcs(old, new), [], 0, 0
    for line in common + [None]:
        while i < len(old) and old[i] != line:
            out.append("-" + old[i]); i += 1
        while j < len(new) and new[j] != line:
            out.append("+" + new[j]); j += 1
        if line is not None:
            out.append(" " + line); i += 1; j += 1
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print("\n".join(diff(OLD, NEW)))
