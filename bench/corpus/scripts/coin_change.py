"""Coin change: fewest coins and number of ways, by dynamic programming."""
import doctest
import sys

EURO_CENTS = [1, 2, 5, 10, 20, 50, 100, 200]


def fewest_coins(amount, coins):
    """Fewest coins making amount, as a list, or None.

    >>> fewest_coins(63, [1, 5, 10, 21, 25])
    [21, 21, 21]
    >>> fewest_coins(3, [2]) is None
    True
    """
    best = [0] + [None] * amount
    last = [0] * (amount + 1)
    for a in range(1, amount + 1):
        for c in coins:
            if c <= a and best[a - c] is not None and (best[a] is None or best[a - c] + 1 < best[a]):
                best[a], last[a] = best[a - c] + 1, c
    if best[amount] is None:
        return None
    out = []
    while amount:
        out.append(last[amount])
        amount -= last[amount]
    return sorted(out, reverse=True)


def ways(amount, coins):
    """Number of multisets of coins summing to amount.

    >>> ways(10, [1, 2, 5])
    10
    """
    table = [1] + [0] * amount
    for c in coins:
        for a in range(c, amount + 1):
            table[a] += table[a - c]
    return table[amount]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print("4.88 EUR:", fewest_coins(488, EURO_CENTS))
    print("ways to make 2 EUR:", ways(200, EURO_CENTS))
