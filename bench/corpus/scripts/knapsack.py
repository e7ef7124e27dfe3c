"""Pack a hiking bag: the 0/1 knapsack problem."""
import doctest
import sys

ITEMS = [("tent", 2200, 90), ("stove", 800, 40), ("water filter", 300, 60),
         ("camera", 900, 25), ("book", 400, 10), ("rain jacket", 500, 70),
         ("first aid kit", 350, 80), ("extra food", 1200, 55), ("headlamp", 100, 50)]


def best_pack(items, capacity):
    """(value, names) of the most valuable set within capacity grams.

    >>> best_pack([("a", 5, 10), ("b", 4, 40), ("c", 6, 30), ("d", 3, 50)], 10)
    (90, ['b', 'd'])
    """
    table = [[0] * (capacity + 1) for _ in range(len(items) + 1)]
    for i, (_, weight, value) in enumerate(items, 1):
        for w in range(capacity + 1):
            table[i][w] = table[i - 1][w]
            if weight <= w:
                table[i][w] = max(table[i][w], table[i - 1][w - weight] + value)
    chosen, w = [], capacity
    for i in range(len(items), 0, -1):
        if table[i][w] != table[i - 1][w]:
            chosen.append(items[i - 1][0])
            w -= items[i - 1][1]
    return table[-1][capacity], sorted(chosen)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    value, names = best_pack(ITEMS, 5000)
    print(f"value {value}:", ", ".join(names))
