"""Group delivery addresses into depots with k-means (fixed seed)."""
import doctest
import math
import random
import sys


def nearest(point, centres):
    """Index of the centre closest to point.

    >>> nearest((1, 1), [(0, 0), (5, 5)])
    0
    """
    return min(range(len(centres)), key=lambda i: math.dist(point, centres[i]))


def kmeans(points, k, seed, rounds=50):
    """(centres, labels) after Lloyd's iterations from k random points.

    >>> pts = [(0, 0), (0, 1), (10, 10), (10, 11)]
    >>> sorted(kmeans(pts, 2, seed=1)[0])
    [(0.0, 0.5), (10.0, 10.5)]
    """
    centres = random.Random(seed).sample(points, k)
    labels = []
    for _ in range(rounds):
        labels = [nearest(p, centres) for p in points]
        moved = []
        for i in range(k):
            members = [p for p, label in zip(points, labels) if label == i] or [centres[i]]
            moved.append(tuple(sum(c) / len(members) for c in zip(*members)))
        if moved == centres:
            break
        centres = moved
    return centres, labels


def town(rng, centre, spread, n):
    """n addresses scattered around a town centre."""
    return [(round(rng.gauss(centre[0], spread), 2), round(rng.gauss(centre[1], spread), 2)) for _ in range(n)]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    rng = random.Random(7)
    points = town(rng, (2, 3), 1.0, 40) + town(rng, (12, 4), 1.5, 60) + town(rng, (7, 12), 1.2, 50)
    centres, labels = kmeans(points, 3, seed=3)
    for i, (x, y) in sorted(enumerate(centres), key=lambda ic: ic[1]):
        members = [p for p, label in zip(points, labels) if label == i]
        radius = max(math.dist(p, (x, y)) for p in members)
        print(f"depot at ({x:5.2f}, {y:5.2f}): {len(members):>3} addresses, farthest {radius:.2f} km")
