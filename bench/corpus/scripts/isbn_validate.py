"""Validate ISBN-10 and ISBN-13 and convert between them."""
import doctest
import sys


def valid_isbn10(s):
    """Weighted sum mod 11; X stands for 10 in the last place.

    >>> valid_isbn10("0-306-40615-2")
    True
    >>> valid_isbn10("0306406153")
    False
    """
    s = s.replace("-", "")
    if len(s) != 10 or not s[:9].isdigit() or not (s[9].isdigit() or s[9] in "xX"):
        return False
    total = sum((10 - i) * int(c) for i, c in enumerate(s[:9]))
    total += 10 if s[9] in "xX" else int(s[9])
    return total % 11 == 0


def isbn13_check(first12):
    """Check digit of an ISBN-13.

    >>> isbn13_check("978030640615")
    7
    """
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first12))
    return (10 - total % 10) % 10


def to_isbn13(isbn10):
    """The 978-prefixed ISBN-13 of an ISBN-10.

    >>> to_isbn13("0-306-40615-2")
    '9780306406157'
    """
    core = "978" + isbn10.replace("-", "")[:9]
    return core + str(isbn13_check(core))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    books = ["0-306-40615-2", "0-19-853453-1", "0-19-853453-2", "1-56619-909-3", "0-8044-2957-X"]
    for b in books:
        print(f"{b:<15} {'ok ' + to_isbn13(b) if valid_isbn10(b) else 'invalid'}")
