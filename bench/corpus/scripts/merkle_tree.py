"""Build a Merkle tree over records and prove one is included."""
import doctest
import hashlib
import sys

RECORDS = [f"tx{i:03d}:alice->bob:{(i * 37) % 100}".encode() for i in range(11)]


def h(data):
    """SHA-256 digest.

    >>> h(b"abc").hex()[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(data).digest()


def levels(leaves):
    """Every level of the tree, leaf hashes first; an odd node is paired with itself.

    >>> [len(level) for level in levels([b"a", b"b", b"c"])]
    [3, 2, 1]
    """
    level = [h(b"\0" + leaf) for leaf in leaves]
    out = [level]
    while len(level) > 1:
        if len(level) % 2:
            level = level + [level[-1]]
        level = [h(b"\1" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        out.append(level)
    return out


def proof(tree, index):
    """Sibling hashes from leaf index up to the root, with their side.

    >>> len(proof(levels([b"a", b"b", b"c", b"d"]), 2))
    2
    """
    path = []
    for level in tree[:-1]:
        sibling = index ^ 1
        path.append(("right" if sibling > index else "left", level[min(sibling, len(level) - 1)]))
        index //= 2
    return path


def verify(leaf, path, root):
    """Recompute the root from a leaf and its proof.

    >>> t = levels([b"a", b"b", b"c"])
    >>> verify(b"c", proof(t, 2), t[-1][0]), verify(b"x", proof(t, 2), t[-1][0])
    (True, False)
    """
    node = h(b"\0" + leaf)
    for side, sibling in path:
        node = h(b"\1" + (node + sibling if side == "right" else sibling + node))
    return node == root


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    tree = levels(RECORDS)
    root = tree[-1][0]
    print(f"{len(RECORDS)} records, {len(tree)} levels, root {root.hex()[:32]}")
    for i in (0, 7, 10):
        p = proof(tree, i)
        print(f"record {i:>2}: proof of {len(p)} hashes, valid {verify(RECORDS[i], p, root)}")
    print("tampered record 7 valid:", verify(RECORDS[7].replace(b"bob", b"eve"), proof(tree, 7), root))
