"""Run-length encoding of strings."""
import doctest
import re
import sys
from itertools import groupby


def encode(text):
    """Runs as count followed by the character; runs of one keep no count.

    >>> encode("WWWWBBBWWC")
    '4W3B2WC'
    >>> encode("")
    ''
    """
    return "".join((str(n) if n > 1 else "") + ch
                   for ch, n in ((ch, len(list(g))) for ch, g in groupby(text)))


def decode(code):
    """Inverse of encode.

    >>> decode("4W3B2WC")
    'WWWWBBBWWC'
    >>> decode("12a")
    'aaaaaaaaaaaa'
    """
    return "".join(ch * int(n or 1) for n, ch in re.findall(r"(\d*)(\D)", code))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    image = ["....####....", "...######...", "..########..", "...######...", "....####...."]
    packed = [encode(row) for row in image]
    assert [decode(p) for p in packed] == image
    raw, small = sum(map(len, image)), sum(map(len, packed))
    print(packed)
    print(f"{raw} -> {small} characters ({small / raw:.0%})")
