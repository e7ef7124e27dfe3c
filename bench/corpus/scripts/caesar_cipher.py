"""Caesar cipher and a frequency-based breaker."""
import doctest
import string
import sys
from collections import Counter

SECRET = "Wkh vhfuhw phhwlqj lv dw vhyhq, eulqj wkh pdsv dqg wkh whd."
ENGLISH = "etaoinshrdlcumwfgypbvkjxqz"


def shift(text, k):
    """Shift letters by k, keeping case and other characters.

    >>> shift("Hello, World!", 3)
    'Khoor, Zruog!'
    >>> shift(shift("abc xyz", 5), -5)
    'abc xyz'
    """
    lo, up = string.ascii_lowercase, string.ascii_uppercase
    k %= 26
    table = str.maketrans(lo + up, lo[k:] + lo[:k] + up[k:] + up[:k])
    return text.translate(table)


def score(text):
    """Lower is more English-like: sum of letter frequency ranks.

    >>> score("eee") < score("zzz")
    True
    """
    counts = Counter(c for c in text.lower() if c.isalpha())
    return sum(ENGLISH.index(c) * n for c, n in counts.items())


def crack(text):
    """The shift that makes text read most like English.

    >>> crack(shift("attack at dawn, the enemy sleeps", 11))
    11
    """
    return min(range(26), key=lambda k: score(shift(text, -k)))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    k = crack(SECRET)
    print(f"key {k}: {shift(SECRET, -k)}")
