"""Edit distance and "did you mean" suggestions for commands."""
import doctest
import sys

COMMANDS = ["status", "commit", "checkout", "branch", "merge", "rebase", "push", "pull", "fetch", "stash"]


def distance(a, b):
    """Levenshtein distance with two rows.

    >>> distance("kitten", "sitting")
    3
    >>> distance("", "abc")
    3
    """
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def suggest(word, choices, limit=2):
    """Choices within limit edits of word, closest first.

    >>> suggest("comit", COMMANDS)
    ['commit']
    >>> suggest("xyzzy", COMMANDS)
    []
    """
    scored = sorted((distance(word, c), c) for c in choices)
    return [c for d, c in scored if d <= limit]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for typo in ("stauts", "chekout", "pul", "rebsae", "mrege"):
        print(f"{typo!r}: did you mean {suggest(typo, COMMANDS)}?")
