"""Group words that are anagrams of each other."""
import doctest
import sys
from collections import defaultdict

WORDS = """listen silent enlist google inlets banana tinsel
stone tones notes onset seton angel glean angle evil vile live veil""".split()


def signature(word):
    """Sorted letters, case folded.

    >>> signature("Listen")
    'eilnst'
    """
    return "".join(sorted(word.casefold()))


def groups(words):
    """Anagram groups of at least two words, largest first.

    >>> groups(["tea", "eat", "tan", "ate", "nat", "bat"])
    [['ate', 'eat', 'tea'], ['nat', 'tan']]
    """
    by_sig = defaultdict(set)
    for w in words:
        by_sig[signature(w)].add(w)
    found = [sorted(g) for g in by_sig.values() if len(g) > 1]
    return sorted(found, key=lambda g: (-len(g), g))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for g in groups(WORDS):
        print(len(g), " ".join(g))
