"""Rank five-card poker hands and pick the winner."""
import doctest
import sys
from collections import Counter

RANKS = "23456789TJQKA"
NAMES = ["high card", "pair", "two pair", "three of a kind", "straight", "flush",
         "full house", "four of a kind", "straight flush"]


def evaluate(hand):
    """(category, tiebreak ranks) for a hand like "AS KS QS JS TS".

    >>> NAMES[evaluate("2H 2D 5S 5C 9H")[0]], evaluate("2H 2D 5S 5C 9H")[1]
    ('two pair', [3, 0, 7])
    >>> NAMES[evaluate("AH 2D 3S 4C 5H")[0]], evaluate("AH 2D 3S 4C 5H")[1]
    ('straight', [3])
    """
    cards = hand.split()
    values = sorted((RANKS.index(c[0]) for c in cards), reverse=True)
    counts = Counter(values)
    groups = sorted(counts.items(), key=lambda kv: (-kv[1], -kv[0]))
    ordered = [v for v, _ in groups]
    flush = len({c[1] for c in cards}) == 1
    if values == [12, 3, 2, 1, 0]:
        values = [3, 2, 1, 0, -1]  # the wheel: ace plays low
    straight = len(counts) == 5 and values[0] - values[4] == 4
    shape = sorted(counts.values(), reverse=True)
    if straight:
        return (8 if flush else 4), [values[0]]
    if flush:
        return 5, values
    category = {(4, 1): 7, (3, 2): 6, (3, 1): 3, (2, 2): 2, (2, 1): 1}.get(tuple(shape[:2]), 0)
    return category, ordered


def winner(hands):
    """The name of the best hand.

    >>> winner({"a": "KH KD 3S 3C 2H", "b": "KS KC 3H 3D 4H"})
    'b'
    """
    return max(hands, key=lambda name: evaluate(hands[name]))


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    table = {"Ada": "TH JH QH KH AH", "Bo": "9C 9D 9S 4H 4C", "Cy": "2S 8S 5S JS KS",
             "Di": "7D 8C 9H TS JC", "Ed": "AC AD 7S 7H 2C", "Flo": "QD QS QC 3H 6D"}
    for name, hand in sorted(table.items(), key=lambda kv: evaluate(kv[1]), reverse=True):
        print(f"{name:<4}{hand}  {NAMES[evaluate(hand)[0]]}")
    print("winner:", winner(table))
