"""The most frequent words of a text, without stop words."""
import doctest
import re
import sys
from collections import Counter

TEXT = """It was the best of times, it was the worst of times, it was the age of
wisdom, it was the age of foolishness, it was the epoch of belief, it was the
epoch of incredulity, it was the season of Light, it was the season of Darkness,
it was the spring of hope, it was the winter of despair."""

STOP = {"it", "was", "the", "of", "a", "and", "to", "in"}


def words(text):
    """Lower-case words.

    >>> words("Don't stop, believing!")
    ["don't", 'stop', 'believing']
    """
    return re.findall(r"[a-z']+", text.lower())


def top(text, n):
    """The n most common words not in STOP, ties alphabetical.

    >>> top("b x b c x b the", 2)
    [('b', 3), ('x', 2)]
    """
    counts = Counter(w for w in words(text) if w not in STOP)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for word, count in top(TEXT, 6):
        print(f"{count:>3} {word}")
