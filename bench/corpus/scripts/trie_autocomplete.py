"""Autocomplete search queries from a prefix trie ranked by popularity."""
import doctest
import sys

QUERIES = {"python tutorial": 90, "python list": 75, "python dict": 60, "pycharm": 40,
           "pytest fixtures": 35, "pandas groupby": 70, "pandas merge": 50, "panda facts": 5,
           "go modules": 55, "golang generics": 45, "git rebase": 80, "git stash": 65}


class Trie:
    """Prefix tree of terms, each with a weight.

    >>> t = Trie({"car": 3, "cart": 5, "cat": 1})
    >>> t.complete("ca")
    ['cart', 'car', 'cat']
    >>> t.complete("dog")
    []
    """

    def __init__(self, weights):
        self.root = {}
        for term, weight in weights.items():
            self.insert(term, weight)

    def insert(self, term, weight):
        node = self.root
        for ch in term:
            node = node.setdefault(ch, {})
        node[None] = weight

    def _node(self, prefix):
        node = self.root
        for ch in prefix:
            if ch not in node:
                return None
            node = node[ch]
        return node

    def complete(self, prefix, limit=3):
        """The heaviest terms starting with prefix, ties alphabetical."""
        node = self._node(prefix)
        found, stack = [], [(node, prefix)] if node is not None else []
        while stack:
            node, word = stack.pop()
            for ch, child in node.items():
                if ch is None:
                    found.append((-child, word))
                else:
                    stack.append((child, word + ch))
        return [word for _, word in sorted(found)[:limit]]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    trie = Trie(QUERIES)
    for typed in ["p", "py", "pan", "g", "git s", "rust"]:
        print(f"{typed!r:<8} -> {trie.complete(typed)}")
