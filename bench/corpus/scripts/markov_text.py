"""Generate nonsense sentences from a word-level Markov chain (fixed seed)."""
import doctest
import random
import sys
from collections import defaultdict

CORPUS = """the cat sat on the mat. the dog sat on the log. the cat saw the dog.
the dog chased the cat up the tree. a bird sat in the tree and sang.
the cat watched the bird. the bird flew over the dog and the mat."""


def chain(text, order=1):
    """Map each run of `order` words to the words seen after it.

    >>> dict(chain("a b a c."))
    {('a',): ['b', 'c.'], ('b',): ['a']}
    """
    words = text.split()
    table = defaultdict(list)
    for i in range(len(words) - order):
        table[tuple(words[i:i + order])].append(words[i + order])
    return table


def babble(table, rng, start, max_words=20):
    """Walk the chain from start until a word ends a sentence.

    >>> babble(chain("x y z. x z."), random.Random(0), ("x",))
    'x z.'
    """
    out = list(start)
    while len(out) < max_words and not out[-1].endswith("."):
        followers = table.get(tuple(out[-len(start):]))
        if not followers:
            break
        out.append(rng.choice(followers))
    return " ".join(out)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for order in (1, 2):
        table = chain(CORPUS, order)
        rng = random.Random(42)
        starts = sorted(k for k in table if k[0] == "the" and not k[-1].endswith("."))
        print(f"order {order}: {len(table)} states")
        for _ in range(3):
            print("  ", babble(table, rng, rng.choice(starts)))
