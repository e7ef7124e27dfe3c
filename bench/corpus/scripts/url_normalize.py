"""Normalise URLs so that equivalent ones compare equal."""
import doctest
import posixpath
import sys
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
TRACKING = ("utm_", "fbclid", "gclid")


def remove_dot_segments(path):
    """Resolve '.' and '..' in a path, keeping a trailing slash.

    >>> remove_dot_segments("/a/b/../c/./d/")
    '/a/c/d/'
    >>> remove_dot_segments("")
    '/'
    """
    if not path:
        return "/"
    resolved = posixpath.normpath(path)
    return resolved + "/" if path.endswith("/") and resolved != "/" else resolved


def normalize(url):
    """Lower-case scheme and host, drop default ports, fragments and tracking
    parameters, sort the query, and re-quote the path.

    >>> normalize("HTTP://Example.COM:80/a/../b%7e?b=2&utm_source=x&a=1#top")
    'http://example.com/b~?a=1&b=2'
    >>> normalize("https://example.com:8443")
    'https://example.com:8443/'
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if parts.port and parts.port != DEFAULT_PORTS.get(scheme):
        host += f":{parts.port}"
    path = quote(unquote(remove_dot_segments(parts.path)), safe="/~")
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not k.startswith(TRACKING))
    return urlunsplit((scheme, host, path, urlencode(query), ""))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    seen = {}
    for url in ["https://shop.example/items?id=7&page=2", "HTTPS://shop.example:443/items/?page=2&id=7",
                "https://shop.example/./items?page=2&id=7&utm_campaign=winter#reviews",
                "https://shop.example/items/../items?id=8", "http://shop.example/items?id=7&page=2"]:
        key = normalize(url)
        seen.setdefault(key, []).append(url)
    for key, urls in seen.items():
        print(f"{len(urls)} x {key}")
