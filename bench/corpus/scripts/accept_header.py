"""Content negotiation: pick a response type from an HTTP Accept header."""
import doctest
import sys

OFFERED = ["application/json", "text/html", "text/csv"]


def parse_accept(header):
    """(type, q) pairs sorted by preference: q, then specificity, then order.

    >>> parse_accept("text/*;q=0.5, application/json, */*;q=0.1")
    [('application/json', 1.0), ('text/*', 0.5), ('*/*', 0.1)]
    >>> parse_accept("")
    [('*/*', 1.0)]
    """
    ranges = []
    for i, item in enumerate(p.strip() for p in header.split(",")):
        if not item:
            continue
        media, *params = [s.strip() for s in item.split(";")]
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                q = float(value)
        specificity = 2 - media.count("*")
        ranges.append((-q, -specificity, i, media.lower(), q))
    if not ranges:
        return [("*/*", 1.0)]
    return [(media, q) for *_, media, q in sorted(ranges)]


def matches(pattern, media):
    """Whether a media range covers a concrete type.

    >>> matches("text/*", "text/csv"), matches("text/*", "application/json")
    (True, False)
    """
    ptype, _, psub = pattern.partition("/")
    mtype, _, msub = media.partition("/")
    return ptype in ("*", mtype) and psub in ("*", msub)


def negotiate(header, offered):
    """The offered type the client prefers most, or None (406 Not Acceptable).

    >>> negotiate("text/html;q=0.9, text/csv", OFFERED)
    'text/csv'
    >>> negotiate("image/png", OFFERED) is None
    True
    """
    for pattern, q in parse_accept(header):
        if q <= 0:
            continue
        for media in offered:
            if matches(pattern, media):
                return media
    return None


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for header in ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                   "application/json", "text/*;q=0.3, text/csv;q=0.7", "image/webp, image/*;q=0.8", ""]:
        chosen = negotiate(header, OFFERED)
        print(f"{chosen or '406 Not Acceptable':<20} <- {header or '(no header)'}")
