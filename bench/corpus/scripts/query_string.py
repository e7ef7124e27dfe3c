"""Parse, normalise and rebuild URL query strings."""
import doctest
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

URLS = ["https://shop.example/search?q=red+shoes&page=2&utm_source=mail&sort=price",
        "https://shop.example/search?sort=price&q=red%20shoes&page=2",
        "https://shop.example/item?id=42&utm_campaign=x&ref=home"]


def clean(url, drop_prefix="utm_"):
    """Drop tracking parameters and sort the rest.

    >>> clean("http://a.b/p?z=1&utm_x=2&a=3")
    'http://a.b/p?a=3&z=1'
    """
    parts = urlsplit(url)
    params = sorted((k, v) for k, v in parse_qsl(parts.query) if not k.startswith(drop_prefix))
    return urlunsplit(parts._replace(query=urlencode(params)))


def same_page(a, b):
    """Whether two URLs name the same resource once cleaned.

    >>> same_page("http://x/p?b=1&a=2", "http://x/p?a=2&b=1")
    True
    """
    return clean(a) == clean(b)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for u in URLS:
        print(clean(u))
    print("first two equal:", same_page(URLS[0], URLS[1]))
