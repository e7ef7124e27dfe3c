"""Seeded random walks: how far a drunkard strays."""
import doctest
import math
import random
import sys


def walk(steps, rng):
    """End point of a 2-D lattice walk of the given length.

    >>> walk(4, random.Random(1))
    (1, 1)
    """
    x = y = 0
    for _ in range(steps):
        dx, dy = rng.choice(((1, 0), (-1, 0), (0, 1), (0, -1)))
        x, y = x + dx, y + dy
    return x, y


def rms_distance(steps, trials, seed):
    """Root-mean-square distance over many walks; about sqrt(steps).

    >>> round(rms_distance(100, 400, 7) / 10, 1)
    1.0
    """
    rng = random.Random(seed)
    total = 0
    for _ in range(trials):
        x, y = walk(steps, rng)
        total += x * x + y * y
    return math.sqrt(total / trials)


def first_return(rng, limit):
    """Steps until a 1-D walk first comes back to 0, or None past limit.

    >>> first_return(random.Random(3), 1000)
    4
    """
    pos = 0
    for n in range(1, limit + 1):
        pos += rng.choice((-1, 1))
        if pos == 0:
            return n
    return None


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for steps in (16, 64, 256):
        rms = rms_distance(steps, 200, seed=steps)
        print(f"{steps:>4} steps: rms {rms:6.2f}  sqrt(n) {math.sqrt(steps):6.2f}")
    rng = random.Random(2026)
    returns = [first_return(rng, 500) for _ in range(300)]
    done = sorted(r for r in returns if r is not None)
    print(f"returned within 500 steps: {len(done)}/300, median {done[len(done) // 2]} steps")
