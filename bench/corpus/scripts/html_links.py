"""Extract links, headings and plain text from an HTML page."""
import doctest
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

PAGE = """<!doctype html><html><head><title>Release notes</title><style>p {color: red}</style></head>
<body><h1>Release 2.4</h1><p>Read the <a href="/docs/upgrade">upgrade guide</a> first &amp; back up.</p>
<h2>Fixes</h2><ul><li><a href="https://github.com/example/app/issues/311">#311</a> crash on start</li>
<li><a href="../changelog.html#2.4">full changelog</a></li><li><a href="mailto:team@example.org">mail us</a></li></ul>
<script>console.log("not text")</script><p>Thanks to <a href="https://example.org/people">everyone</a>.</p></body></html>"""


class Extractor(HTMLParser):
    """Collects hrefs (made absolute), headings and visible text.

    >>> e = Extractor("https://x.test/a/b.html")
    >>> e.feed('<h1>Hi</h1><a href="c.html">C</a><script>x</script>')
    >>> e.links, e.headings, e.text()
    ([('https://x.test/a/c.html', 'C')], [('h1', 'Hi')], 'Hi C')
    """

    def __init__(self, base):
        super().__init__(convert_charrefs=True)
        self.base, self.links, self.headings, self.chunks = base, [], [], []
        self.stack, self.href = [], None

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        if tag == "a":
            self.href, self.anchor = dict(attrs).get("href"), []

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass
        if tag == "a" and self.href:
            self.links.append((urljoin(self.base, self.href), "".join(self.anchor).strip()))
            self.href = None

    def handle_data(self, data):
        if any(t in ("script", "style", "title") for t in self.stack):
            return
        if self.stack and self.stack[-1] in ("h1", "h2", "h3"):
            self.headings.append((self.stack[-1], data.strip()))
        if self.href:
            self.anchor.append(data)
        self.chunks.append(data)

    def text(self):
        return " ".join(" ".join(self.chunks).split())


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    page = Extractor("https://example.org/releases/2.4/notes.html")
    page.feed(PAGE)
    print("headings:", page.headings)
    for url, anchor in page.links:
        parts = urlsplit(url)
        kind = parts.scheme if parts.scheme not in ("http", "https") else (
            "internal" if parts.netloc == "example.org" else "external")
        print(f"  {kind:<8} {anchor:<16} {url}")
    print("text:", page.text())
