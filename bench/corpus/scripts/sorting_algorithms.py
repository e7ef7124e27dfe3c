"""Quicksort, merge sort and insertion sort, checked against sorted()."""
import doctest
import random
import sys


def quicksort(xs):
    """Three-way partition quicksort (not in place).

    >>> quicksort([3, 6, 1, 8, 1, 9, 2])
    [1, 1, 2, 3, 6, 8, 9]
    """
    if len(xs) <= 1:
        return list(xs)
    pivot = xs[len(xs) // 2]
    return (quicksort([x for x in xs if x < pivot]) + [x for x in xs if x == pivot]
            + quicksort([x for x in xs if x > pivot]))


def merge_sort(xs):
    """Stable merge sort.

    >>> merge_sort([5, 2, 4, 6, 1, 3])
    [1, 2, 3, 4, 5, 6]
    """
    if len(xs) <= 1:
        return list(xs)
    left, right = merge_sort(xs[:len(xs) // 2]), merge_sort(xs[len(xs) // 2:])
    out, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        if right[j] < left[i]:
            out.append(right[j]); j += 1
        else:
            out.append(left[i]); i += 1
    return out + left[i:] + right[j:]


def insertion_sort(xs):
    """In place; returns xs.

    >>> insertion_sort([4, 3, 2, 1])
    [1, 2, 3, 4]
    """
    for i in range(1, len(xs)):
        key, j = xs[i], i - 1
        while j >= 0 and xs[j] > key:
            xs[j + 1] = xs[j]; j -= 1
        xs[j + 1] = key
    return xs


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    rng = random.Random(7)
    data = [rng.randint(0, 999) for _ in range(3000)]
    assert quicksort(data) == merge_sort(data) == sorted(data)
    print("sorted", len(data), "numbers; first", quicksort(data)[:5], "last", merge_sort(data)[-3:])
