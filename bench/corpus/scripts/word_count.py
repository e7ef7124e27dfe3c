"""Count lines, words and characters of a text, like wc."""
import doctest
import sys

TEXT = """The quick brown fox jumps over the lazy dog.
Pack my box with five dozen liquor jugs.
How vexingly quick daft zebras jump!
"""


def wc(text):
    """Return (lines, words, characters) of text.

    >>> wc("one two\\nthree\\n")
    (2, 3, 14)
    >>> wc("")
    (0, 0, 0)
    >>> wc("no newline")
    (0, 2, 10)
    """
    return text.count("\n"), len(text.split()), len(text)


def longest_word(text):
    """The longest word, punctuation stripped; the first one on ties.

    >>> longest_word("a bb ccc dd!")
    'ccc'
    >>> longest_word("vexingly, quickly")
    'vexingly'
    """
    words = [w.strip(".,!?;:") for w in text.split()]
    return max(words, key=len)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    lines, words, chars = wc(TEXT)
    print(f"{lines:>4} {words:>4} {chars:>5}  longest: {longest_word(TEXT)}")
