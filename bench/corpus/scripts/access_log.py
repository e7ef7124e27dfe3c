"""Summarise web server access log lines."""
import doctest
import re
import sys
from collections import Counter

LOG = """\
10.0.0.1 - - [02/Dec/2026:10:00:01 +0000] "GET /index.html HTTP/1.1" 200 5120
10.0.0.2 - - [02/Dec/2026:10:00:02 +0000] "GET /about HTTP/1.1" 200 2048
10.0.0.1 - - [02/Dec/2026:10:00:05 +0000] "POST /login HTTP/1.1" 302 0
10.0.0.3 - - [02/Dec/2026:10:01:00 +0000] "GET /missing HTTP/1.1" 404 512
10.0.0.1 - - [02/Dec/2026:10:01:30 +0000] "GET /index.html HTTP/1.1" 200 5120
10.0.0.4 - - [02/Dec/2026:10:02:11 +0000] "GET /api/data HTTP/1.1" 500 128
10.0.0.2 - - [02/Dec/2026:10:03:00 +0000] "GET /index.html HTTP/1.1" 304 0
"""

LINE = re.compile(r'(\S+) \S+ \S+ \[([^]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+)')


def parse(line):
    """(ip, method, path, status, bytes) of one line.

    >>> parse('1.2.3.4 - - [x] "GET / HTTP/1.0" 200 10')
    ('1.2.3.4', 'GET', '/', 200, 10)
    """
    m = LINE.match(line)
    if not m:
        raise ValueError(f"not an access log line: {line!r}")
    ip, _, method, path, status, size = m.groups()
    return ip, method, path, int(status), int(size)


def error_rate(entries):
    """Share of 4xx and 5xx responses.

    >>> error_rate([("", "", "", 200, 0), ("", "", "", 404, 0)])
    0.5
    """
    return sum(e[3] >= 400 for e in entries) / len(entries)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    entries = [parse(l) for l in LOG.splitlines()]
    print("top paths:", Counter(e[2] for e in entries).most_common(2))
    print("bytes:", sum(e[4] for e in entries), f"errors: {error_rate(entries):.0%}")
