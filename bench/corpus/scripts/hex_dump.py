"""A hexdump -C style view of bytes."""
import doctest
import sys

DATA = bytes(range(0, 256, 7)) + "héllo, wörld\n\t\x00".encode("utf-8")


def printable(b):
    """The byte as a character, or '.'.

    >>> printable(65), printable(10)
    ('A', '.')
    """
    return chr(b) if 32 <= b < 127 else "."


def dump(data, width=16):
    """Offset, hex bytes in two groups of eight, and text.

    >>> print(dump(b"Hello, hexdump!\\n"))
    00000000  48 65 6c 6c 6f 2c 20 68  65 78 64 75 6d 70 21 0a  |Hello, hexdump!.|
    00000010
    """
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off:off + width]
        hexes = [f"{b:02x}" for b in chunk] + ["  "] * (width - len(chunk))
        half = width // 2
        lines.append(f"{off:08x}  {' '.join(hexes[:half])}  {' '.join(hexes[half:])}  "
                     f"|{''.join(printable(b) for b in chunk)}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(dump(DATA))
