"""Make URL slugs from article titles, unique within a site."""
import doctest
import re
import sys
import unicodedata

TITLES = ["Hello, World!", "Crème brûlée: a how-to", "  Ten   tips for Go   ", "Hello World",
          "C'est la vie — Paris in 48 hours", "Ünïcödé Straße", "Hello world!!!"]


def slugify(title, max_len=40):
    """Lower-case ASCII words joined by hyphens, cut at a word boundary.

    >>> slugify("Crème brûlée: a how-to")
    'creme-brulee-a-how-to'
    >>> slugify("Straße")
    'strasse'
    >>> slugify("a very long title indeed that goes on", max_len=12)
    'a-very-long'
    """
    text = title.replace("ß", "ss")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_len:
            break
        slug = candidate
    return slug or "untitled"


def unique_slugs(titles):
    """A slug per title, suffixing -2, -3 ... on collisions.

    >>> unique_slugs(["A b", "a-b", "A B"])
    ['a-b', 'a-b-2', 'a-b-3']
    """
    used, out = {}, []
    for title in titles:
        base = slugify(title)
        n = used.get(base, 0) + 1
        used[base] = n
        out.append(base if n == 1 else f"{base}-{n}")
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for title, slug in zip(TITLES, unique_slugs(TITLES)):
        print(f"{len(title.split()):>2} words -> /posts/{slug}")
