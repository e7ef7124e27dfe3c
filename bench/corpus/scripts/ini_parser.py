"""A tiny INI parser with typed values and defaults."""
import doctest
import sys

CONFIG = """
; service settings
[server]
host = 0.0.0.0
port = 8080
debug = false

[database]
url = sqlite:///app.db
pool = 5
"""


def parse_value(raw):
    """Booleans, integers and floats from their text; anything else stays.

    >>> parse_value("true"), parse_value("42"), parse_value("2.5"), parse_value("x")
    (True, 42, 2.5, 'x')
    """
    low = raw.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_ini(text):
    """Sections of key = value lines; ; and # start comments.

    >>> parse_ini("[a]\\nx = 1\\n# c\\n[b]\\ny=on")
    {'a': {'x': 1}, 'b': {'y': True}}
    """
    sections, current = {}, None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current[key.strip()] = parse_value(value.strip())
        else:
            raise ValueError(f"line {lineno}: cannot parse {line!r}")
    return sections


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    cfg = parse_ini(CONFIG)
    print(f"listen {cfg['server']['host']}:{cfg['server']['port']}, pool {cfg['database']['pool']}")
