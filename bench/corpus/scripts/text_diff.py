"""Compare two versions of a config file line by line."""
import difflib
import doctest
import sys

BEFORE = """[server]
host = 0.0.0.0
port = 8080
workers = 4

[log]
level = info
file = /var/log/app.log
"""

AFTER = """[server]
host = 0.0.0.0
port = 9090
workers = 4
timeout = 30

[log]
level = debug
"""


def changes(old, new):
    """(added, removed) line counts between two texts.

    >>> changes("a\\nb\\nc\\n", "a\\nc\\nd\\n")
    (1, 1)
    """
    added = removed = 0
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        added += line.startswith("+ ")
        removed += line.startswith("- ")
    return added, removed


def unified(old, new, name, context=1):
    """A unified diff as one string.

    >>> print(unified("x\\ny\\n", "x\\nz\\n", "f"), end="")
    --- a/f
    +++ b/f
    @@ -1,2 +1,2 @@
     x
    -y
    +z
    """
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"a/{name}", f"b/{name}", n=context))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(unified(BEFORE, AFTER, "app.ini"), end="")
    added, removed = changes(BEFORE, AFTER)
    ratio = difflib.SequenceMatcher(None, BEFORE, AFTER).ratio()
    print(f"{added} added, {removed} removed, similarity {ratio:.2f}")
