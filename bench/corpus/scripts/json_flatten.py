"""Flatten nested JSON into dotted keys and back again."""
import doctest
import json
import sys

CONFIG = """{"server": {"host": "0.0.0.0", "port": 8080, "tls": {"enabled": false}},
 "workers": [{"name": "a", "slots": 4}, {"name": "b", "slots": 2}],
 "debug": true}"""


def flatten(obj, prefix=""):
    """Dotted-path keys for every leaf; list items get their index.

    >>> flatten({"a": {"b": 1, "c": [2, {"d": 3}]}})
    {'a.b': 1, 'a.c.0': 2, 'a.c.1.d': 3}
    >>> flatten({"empty": {}})
    {'empty': {}}
    """
    if isinstance(obj, dict) and obj:
        items = obj.items()
    elif isinstance(obj, list) and obj:
        items = ((str(i), v) for i, v in enumerate(obj))
    else:
        return {prefix: obj}
    out = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return out


def unflatten(flat):
    """Rebuild nesting; all-digit keys become list indexes.

    >>> unflatten({'a.b': 1, 'a.c.0': 2, 'a.c.1.d': 3})
    {'a': {'b': 1, 'c': [2, {'d': 3}]}}
    """
    root = {}
    for path, value in flat.items():
        node, parts = root, path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    def lists(n):
        if not isinstance(n, dict) or not n:
            return n
        if all(k.isdigit() for k in n):
            return [lists(n[k]) for k in sorted(n, key=int)]
        return {k: lists(v) for k, v in n.items()}
    return lists(root)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    config = json.loads(CONFIG)
    flat = flatten(config)
    for key, value in flat.items():
        print(f"{key:<22} = {json.dumps(value)}")
    print("round trip ok:", unflatten(flat) == config)
