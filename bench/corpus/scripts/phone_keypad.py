"""Phone keypad words: spell numbers and find words for digits."""
import doctest
import sys

KEYS = {"2": "abc", "3": "def", "4": "ghi", "5": "jkl", "6": "mno",
        "7": "pqrs", "8": "tuv", "9": "wxyz"}
WORDS = "good home gone hood hoof ink ion cat act bat tab".split()


def to_digits(word):
    """Digits that type word.

    >>> to_digits("Hello")
    '43556'
    """
    letter = {c: d for d, cs in KEYS.items() for c in cs}
    return "".join(letter[c] for c in word.lower())


def words_for(digits, dictionary):
    """Dictionary words typed by digits.

    >>> words_for("4663", WORDS)
    ['gone', 'good', 'home', 'hood', 'hoof']
    """
    return sorted(w for w in dictionary if to_digits(w) == digits)


def combinations(digits):
    """Every letter string digits can type.

    >>> combinations("23")[:4]
    ['ad', 'ae', 'af', 'bd']
    """
    out = [""]
    for d in digits:
        out = [prefix + c for prefix in out for c in KEYS[d]]
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for number in ("228", "4663", "466"):
        print(number, len(combinations(number)), "strings;", words_for(number, WORDS))
