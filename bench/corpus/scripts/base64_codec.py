"""Base64 encoding and decoding by hand, checked against the base64 module."""
import base64
import doctest
import sys

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def encode(data):
    """Three bytes become four characters; '=' pads the last group.

    >>> encode(b"Man"), encode(b"Ma"), encode(b"M"), encode(b"")
    ('TWFu', 'TWE=', 'TQ==', '')
    """
    out = []
    for i in range(0, len(data), 3):
        chunk = data[i:i + 3]
        n = int.from_bytes(chunk.ljust(3, b"\0"), "big")
        chars = [ALPHABET[(n >> shift) & 63] for shift in (18, 12, 6, 0)]
        keep = len(chunk) + 1
        out.append("".join(chars[:keep]) + "=" * (4 - keep))
    return "".join(out)


def decode(text):
    """The bytes of a padded base64 string.

    >>> decode("aGVsbG8gd29ybGQ=")
    b'hello world'
    >>> decode("TQ=")
    Traceback (most recent call last):
    ...
    ValueError: base64 length 3 is not a multiple of 4
    """
    if len(text) % 4:
        raise ValueError(f"base64 length {len(text)} is not a multiple of 4")
    out = bytearray()
    for i in range(0, len(text), 4):
        group = text[i:i + 4]
        pad = group.count("=")
        n = 0
        for ch in group.rstrip("="):
            n = n * 64 + ALPHABET.index(ch)
        n <<= 6 * pad
        out += n.to_bytes(3, "big")[:3 - pad]
    return bytes(out)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    samples = [b"user:secret", b"\x00\xff\x10", "naïve café".encode(), bytes(range(0, 40, 3))]
    for s in samples:
        ours = encode(s)
        same = ours == base64.b64encode(s).decode() and decode(ours) == s
        print(f"{ours:<24} {'ok' if same else 'MISMATCH'}")
