"""CRC-32 from a lookup table, checked against zlib."""
import doctest
import sys
import zlib

POLY = 0xEDB88320


def make_table():
    """The 256-entry table of the reflected CRC-32 polynomial.

    >>> t = make_table()
    >>> len(t), hex(t[1]), hex(t[255])
    (256, '0x77073096', '0x2d02ef8d')
    """
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


TABLE = make_table()


def crc32(data, crc=0):
    """CRC-32 of bytes, continuing from crc.

    >>> hex(crc32(b"123456789"))
    '0xcbf43926'
    >>> crc32(b"world", crc32(b"hello ")) == crc32(b"hello world")
    True
    >>> crc32(b"")
    0
    """
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    packets = [b"GET / HTTP/1.1", b"", b"The quick brown fox jumps over the lazy dog", bytes(range(256))]
    for p in packets:
        ours, theirs = crc32(p), zlib.crc32(p)
        print(f"{len(p):>4} bytes  {ours:08x}  {'ok' if ours == theirs else 'MISMATCH'}")
