"""Parse, sort and constrain semantic versions."""
import doctest
import re
import sys

SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
RELEASES = ["1.10.0", "1.2.0", "v1.2.0-rc.1", "1.2.0-beta.11", "1.2.0-beta.2", "2.0.0-alpha",
            "1.9.3+build.7", "0.9.12", "1.2.1", "2.0.0", "1.2.0-alpha"]


def key(version):
    """A sort key: releases after their pre-releases, numeric parts numerically.

    >>> key("1.2.3") > key("1.2.3-rc.1") > key("1.2.3-beta.10") > key("1.2.3-beta.9")
    True
    >>> key("bogus")
    Traceback (most recent call last):
    ...
    ValueError: 'bogus' is not a semantic version
    """
    m = SEMVER.match(version)
    if not m:
        raise ValueError(f"{version!r} is not a semantic version")
    major, minor, patch, pre = m.groups()
    ids = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")] if pre else []
    return int(major), int(minor), int(patch), not pre, ids


def satisfies(version, constraint):
    """Caret (^1.2.0: same major) and tilde (~1.2.0: same minor) ranges.

    >>> [satisfies(v, "^1.2.0") for v in ("1.9.3", "2.0.0", "1.1.9")]
    [True, False, False]
    >>> [satisfies(v, "~1.2.0") for v in ("1.2.7", "1.3.0")]
    [True, False]
    """
    op, base = constraint[0], key(constraint[1:])
    k = key(version)
    if k < base or not k[3]:
        return False
    return k[0] == base[0] if op == "^" else k[:2] == base[:2]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    ordered = sorted(RELEASES, key=key)
    print("ordered:", " < ".join(ordered))
    for constraint in ("^1.2.0", "~1.2.0", "^0.9.0"):
        matching = [v for v in ordered if satisfies(v, constraint)]
        print(f"{constraint:<7} newest {matching[-1] if matching else '-'} of {len(matching)}")
