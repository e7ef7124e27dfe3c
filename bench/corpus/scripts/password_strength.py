"""Score passwords by length, character classes and common patterns."""
import doctest
import math
import re
import string
import sys

COMMON = {"password", "123456", "qwerty", "letmein", "dragon", "monkey", "welcome"}
CLASSES = [(string.ascii_lowercase, 26), (string.ascii_uppercase, 26), (string.digits, 10),
           (string.punctuation, 32)]


def entropy_bits(password):
    """Length times log2 of the pool of character classes used.

    >>> round(entropy_bits("abc"), 1), round(entropy_bits("aB3!"), 1)
    (14.1, 26.2)
    """
    pool = sum(size for chars, size in CLASSES if any(c in chars for c in password))
    return len(password) * math.log2(pool) if pool else 0.0


def problems(password):
    """Reasons a password is weak, beyond its entropy.

    >>> problems("Password1")
    ['common word']
    >>> problems("aaaa1234")
    ['repeated characters', 'sequence']
    """
    found = []
    if re.sub(r"[^a-z]", "", password.lower()) in COMMON or password.lower() in COMMON:
        found.append("common word")
    if re.search(r"(.)\1\1", password):
        found.append("repeated characters")
    lower = password.lower()
    if any(s[i:i + 4] in lower for s in (string.ascii_lowercase, string.digits) for i in range(len(s) - 3)):
        found.append("sequence")
    return found


def rating(password):
    """weak, fair, good or strong.

    >>> [rating(p) for p in ["letmein", "Tr0ub4dor", "correct horse battery staple"]]
    ['weak', 'fair', 'strong']
    """
    bits = entropy_bits(password) - 20 * len(problems(password))
    return "weak" if bits < 40 else "fair" if bits < 60 else "good" if bits < 80 else "strong"


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for pw in ["monkey", "Summer2026", "abcd9876!", "xK#9vL2$qR", "zzz-top-zzz", "Tr0ub4dor&3"]:
        issues = ", ".join(problems(pw)) or "-"
        print(f"{pw:<14}{entropy_bits(pw):6.1f} bits  {rating(pw):<7}{issues}")
