"""Huffman-code a message and decode it again."""
import doctest
import heapq
import sys
from collections import Counter

MESSAGE = "she sells sea shells by the sea shore, the shells she sells are sea shells"


def code_table(text):
    """Prefix-free bit strings per symbol; ties broken by symbol order.

    >>> sorted(code_table("aaaabbc").items())
    [('a', '1'), ('b', '01'), ('c', '00')]
    >>> code_table("zz")
    {'z': '0'}
    """
    heap = [(n, sym, {sym: ""}) for sym, n in sorted(Counter(text).items())]
    heapq.heapify(heap)
    if len(heap) == 1:
        return {heap[0][1]: "0"}
    while len(heap) > 1:
        n1, s1, left = heapq.heappop(heap)
        n2, s2, right = heapq.heappop(heap)
        merged = {k: "0" + v for k, v in left.items()}
        merged.update({k: "1" + v for k, v in right.items()})
        heapq.heappush(heap, (n1 + n2, min(s1, s2), merged))
    return heap[0][2]


def encode(text, table):
    """The bit string of text.

    >>> encode("abac", {'a': '1', 'b': '01', 'c': '00'})
    '101100'
    """
    return "".join(table[ch] for ch in text)


def decode(bits, table):
    """Read symbols back off the bit string.

    >>> decode("101100", {'a': '1', 'b': '01', 'c': '00'})
    'abac'
    """
    reverse, out, word = {v: k for k, v in table.items()}, [], ""
    for bit in bits:
        word += bit
        if word in reverse:
            out.append(reverse[word])
            word = ""
    return "".join(out)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    table = code_table(MESSAGE)
    for sym, code in sorted(table.items(), key=lambda kv: (len(kv[1]), kv[0])):
        print(f"{sym!r:>5} {MESSAGE.count(sym):>3} {code}")
    bits = encode(MESSAGE, table)
    print(f"{len(MESSAGE) * 8} bits as bytes, {len(bits)} Huffman-coded ({len(bits) / len(MESSAGE):.2f} per symbol)")
    print("decodes back:", decode(bits, table) == MESSAGE)
