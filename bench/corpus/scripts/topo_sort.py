"""Order build tasks by their dependencies (Kahn's algorithm)."""
import doctest
import sys
from collections import deque

TASKS = {
    "compile": ["fetch", "configure"],
    "configure": ["fetch"],
    "test": ["compile"],
    "package": ["compile", "docs"],
    "docs": ["configure"],
    "release": ["test", "package"],
    "fetch": [],
}


def order(deps):
    """A dependency-respecting order; ties alphabetical.

    >>> order({"b": ["a"], "a": [], "c": ["a"]})
    ['a', 'b', 'c']
    >>> order({"x": ["y"], "y": ["x"]})
    Traceback (most recent call last):
    ...
    ValueError: dependency cycle among: x, y
    """
    indegree = {t: len(d) for t, d in deps.items()}
    users = {t: [] for t in deps}
    for t, ds in deps.items():
        for d in ds:
            users[d].append(t)
    ready = deque(sorted(t for t, n in indegree.items() if n == 0))
    out = []
    while ready:
        t = ready.popleft()
        out.append(t)
        for u in sorted(users[t]):
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    if len(out) != len(deps):
        raise ValueError("dependency cycle among: " + ", ".join(sorted(set(deps) - set(out))))
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(" -> ".join(order(TASKS)))
