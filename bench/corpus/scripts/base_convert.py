"""Convert integers between bases 2..36."""
import doctest
import string
import sys

DIGITS = string.digits + string.ascii_lowercase


def to_base(n, base):
    """String of n in base.

    >>> to_base(255, 16)
    'ff'
    >>> to_base(-10, 2)
    '-1010'
    >>> to_base(0, 7)
    '0'
    """
    if not 2 <= base <= 36:
        raise ValueError("base must be 2..36")
    if n == 0:
        return "0"
    sign, n = ("-", -n) if n < 0 else ("", n)
    out = []
    while n:
        n, r = divmod(n, base)
        out.append(DIGITS[r])
    return sign + "".join(reversed(out))


def convert(text, src, dst):
    """Re-spell a number from base src to base dst.

    >>> convert("777", 8, 2)
    '111111111'
    >>> convert("zz", 36, 10)
    '1295'
    """
    return to_base(int(text, src), dst)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for n in (42, 2024, 65535):
        print(n, *(to_base(n, b) for b in (2, 8, 16, 36)))
