"""Vigenere cipher: encrypt and decrypt with a keyword."""
import doctest
import sys
from itertools import cycle


def _apply(text, key, sign):
    shifts = cycle(ord(k) - ord("a") for k in key.lower())
    out = []
    for ch in text:
        if ch.isalpha():
            base = ord("A") if ch.isupper() else ord("a")
            out.append(chr((ord(ch) - base + sign * next(shifts)) % 26 + base))
        else:
            out.append(ch)
    return "".join(out)


def encrypt(text, key):
    """Encrypt letters; others pass through and do not use the key.

    >>> encrypt("ATTACK AT DAWN", "lemon")
    'LXFOPV EF RNHR'
    """
    return _apply(text, key, 1)


def decrypt(text, key):
    """Inverse of encrypt.

    >>> decrypt("LXFOPV EF RNHR", "LEMON")
    'ATTACK AT DAWN'
    """
    return _apply(text, key, -1)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    msg = "Meet me by the old oak tree at noon."
    secret = encrypt(msg, "orchard")
    assert decrypt(secret, "orchard") == msg
    print(secret)
