"""Extract and validate e-mail addresses from text."""
import doctest
import re
import sys

TEXT = """Contact sales@example.com or support@help.example.org for help.
Bad ones: joe@, @nowhere.com, ann@@example.com. Mixed Case: Bob.Smith@Example.COM
Also (mary_o'neil+news@mail.example.co.uk)."""

PATTERN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def extract(text):
    """Addresses found, lower-cased, unique, in order.

    >>> extract("a@b.io, A@B.IO and c@d.com")
    ['a@b.io', 'c@d.com']
    """
    seen = []
    for m in PATTERN.findall(text):
        m = m.lower()
        if m not in seen:
            seen.append(m)
    return seen


def domain_counts(addresses):
    """Addresses per domain.

    >>> domain_counts(["x@a.com", "y@a.com", "z@b.org"])
    {'a.com': 2, 'b.org': 1}
    """
    counts = {}
    for a in addresses:
        d = a.split("@", 1)[1]
        counts[d] = counts.get(d, 0) + 1
    return counts


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    found = extract(TEXT)
    print(found)
    print(domain_counts(found))
