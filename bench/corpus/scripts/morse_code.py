"""Encode and decode Morse code."""
import doctest
import sys

CODE = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", (
    ".- -... -.-. -.. . ..-. --. .... .. .--- -.- .-.. -- -. --- .--. --.- .-. ... - ..- ...- .-- -..- -.-- --.. "
    "----- .---- ..--- ...-- ....- ..... -.... --... ---.. ----.").split()))
DECODE = {v: k for k, v in CODE.items()}


def encode(text):
    """Letters separated by spaces, words by ' / '.

    >>> encode("SOS")
    '... --- ...'
    >>> encode("hi there")
    '.... .. / - .... . .-. .'
    """
    return " / ".join(" ".join(CODE[c] for c in word) for word in text.upper().split())


def decode(morse):
    """Inverse of encode.

    >>> decode("-- --- .-. ... . / -.-. --- -.. .")
    'MORSE CODE'
    """
    return " ".join("".join(DECODE[s] for s in word.split()) for word in morse.split(" / "))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    msg = "What hath God wrought"
    m = encode(msg)
    assert decode(m) == msg.upper()
    print(m)
    print(sum(c == "." for c in m), "dots,", sum(c == "-" for c in m), "dashes")
