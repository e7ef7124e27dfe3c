"""Parse a .env file with quotes, comments and ${VAR} references."""
import doctest
import re
import sys

DOTENV = r"""
# database
DB_HOST=localhost
DB_PORT=5432
DB_USER='app'
DB_PASS="s3cr#t\nline2"   # a comment after a quoted value
DATABASE_URL=postgres://${DB_USER}@${DB_HOST}:${DB_PORT}/app
export LOG_LEVEL=debug  # inline comment
EMPTY=
GREETING="Hello, ${NAME:-stranger}!"
"""
REF = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def parse_line(line):
    """(key, value, expand) of one line, or None for blanks and comments.

    >>> parse_line("export A='x y' # c"), parse_line('B="a\\\\tb"'), parse_line("# no")
    (('A', 'x y', False), ('B', 'a\\tb', True), None)
    """
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    key, _, raw = line.removeprefix("export ").partition("=")
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        value = raw[1:raw.index(quote, 1)]
        if quote == '"':
            value = value.encode().decode("unicode_escape")
        return key.strip(), value, quote == '"'
    return key.strip(), raw.split(" #")[0].strip(), True


def load(text, environ=None):
    """All variables, with ${VAR} and ${VAR:-default} expanded in order.

    >>> load("A=1\\nB=${A}2\\nC=${Z:-none}")
    {'A': '1', 'B': '12', 'C': 'none'}
    """
    env = dict(environ or {})
    out = {}
    for line in text.splitlines():
        parsed = parse_line(line)
        if parsed:
            key, value, expand = parsed
            if expand:
                value = REF.sub(lambda m: out.get(m[1], env.get(m[1], m[2] or "")), value)
            out[key] = value
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for key, value in load(DOTENV).items():
        shown = "*****" if "PASS" in key else value
        print(f"{key:<13}= {shown!r}")
