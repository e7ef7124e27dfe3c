"""Full justification of a paragraph to a fixed width."""
import doctest
import sys

PARAGRAPH = ("Simple is better than complex. Complex is better than "
             "complicated. Flat is better than nested. Sparse is better "
             "than dense. Readability counts.")


def justify_line(words, width):
    """Spread words over width, extra spaces to the left gaps.

    >>> justify_line(["a", "bb", "c"], 9)
    'a   bb  c'
    >>> justify_line(["alone"], 8)
    'alone   '
    """
    if len(words) == 1:
        return words[0].ljust(width)
    gaps = len(words) - 1
    spaces = width - sum(map(len, words))
    q, r = divmod(spaces, gaps)
    return "".join(w + " " * (q + (i < r)) for i, w in enumerate(words[:-1])) + words[-1]


def justify(text, width):
    """Lines of text justified to width; the last line left-aligned.

    >>> justify("the cat sat on the mat", 10)
    ['the    cat', 'sat on the', 'mat']
    """
    lines, cur = [], []
    for word in text.split():
        if cur and len(" ".join(cur + [word])) > width:
            lines.append(justify_line(cur, width))
            cur = []
        cur.append(word)
    return lines + [" ".join(cur)] if cur else lines


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for line in justify(PARAGRAPH, 32):
        print("|" + line.ljust(32) + "|")
