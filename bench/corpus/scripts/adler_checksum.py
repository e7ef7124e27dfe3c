"""Adler-32 and Fletcher-16 checksums, checked against zlib."""
import doctest
import sys
import zlib

MESSAGE = b"Wikipedia" * 500


def adler32(data):
    """Adler-32 of bytes.

    >>> hex(adler32(b"Wikipedia"))
    '0x11e60398'
    >>> adler32(b"")
    1
    """
    a, b = 1, 0
    for byte in data:
        a = (a + byte) % 65521
        b = (b + a) % 65521
    return (b << 16) | a


def fletcher16(data):
    """Fletcher-16 of bytes.

    >>> fletcher16(b"abcde")
    51440
    """
    s1 = s2 = 0
    for byte in data:
        s1 = (s1 + byte) % 255
        s2 = (s2 + s1) % 255
    return (s2 << 8) | s1


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    ours = adler32(MESSAGE)
    if ours != zlib.adler32(MESSAGE):
        sys.exit("adler32 disagrees with zlib")
    print(f"adler32={ours:08x} fletcher16={fletcher16(MESSAGE):04x} bytes={len(MESSAGE)}")
