"""Read an RSS feed: newest items, and posts per category."""
import doctest
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from email.utils import parsedate_to_datetime

FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Example Engineering</title>
<item><title>Faster builds with caching</title><pubDate>Tue, 01 Dec 2026 09:00:00 +0000</pubDate>
  <category>ci</category><category>go</category></item>
<item><title>Postmortem: queue backlog</title><pubDate>Mon, 23 Nov 2026 17:30:00 -0500</pubDate>
  <category>ops</category></item>
<item><title>Generics in practice</title><pubDate>Thu, 26 Nov 2026 08:15:00 +0100</pubDate>
  <category>go</category></item>
<item><title>Zero-downtime migrations</title><pubDate>Fri, 27 Nov 2026 12:00:00 +0000</pubDate>
  <category>ops</category><category>databases</category></item>
</channel></rss>"""


def items(xml_text):
    """(published, title, categories) per item, newest first.

    >>> doc = "<rss><channel><item><title>A</title><pubDate>Mon, 02 Jan 2006 15:04:05 +0000</pubDate></item></channel></rss>"
    >>> items(doc)
    [(datetime.datetime(2006, 1, 2, 15, 4, 5, tzinfo=datetime.timezone.utc), 'A', [])]
    """
    root = ET.fromstring(xml_text)
    out = []
    for item in root.iter("item"):
        published = parsedate_to_datetime(item.findtext("pubDate"))
        out.append((published, item.findtext("title", "").strip(), [c.text for c in item.findall("category")]))
    return sorted(out, reverse=True)


def per_category(entries):
    """Post counts per category, most first, ties alphabetical.

    >>> per_category([(None, "a", ["x", "y"]), (None, "b", ["y"])])
    [('y', 2), ('x', 1)]
    """
    counts = Counter(c for _, _, cats in entries for c in cats)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(ET.fromstring(FEED).findtext("channel/title"))
    entries = items(FEED)
    for published, title, cats in entries:
        print(f"  {published.strftime('%Y-%m-%d %H:%M %z')}  {title:<28} [{', '.join(cats)}]")
    print("categories:", ", ".join(f"{c} {n}" for c, n in per_category(entries)))
