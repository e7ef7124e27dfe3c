"""Simulate customers queueing at supermarket checkouts (fixed seed)."""
import doctest
import heapq
import random
import sys


def arrivals(n, mean_gap, mean_service, seed):
    """n (arrival time, service time) pairs with exponential gaps, in minutes.

    >>> [(round(a, 2), round(s, 2)) for a, s in arrivals(2, 1.0, 2.0, seed=5)]
    [(0.0, 1.95), (1.35, 3.17)]
    """
    rng, t, out = random.Random(seed), 0.0, []
    for i in range(n):
        if i:
            t += rng.expovariate(1 / mean_gap)
        out.append((t, rng.expovariate(1 / mean_service)))
    return out


def simulate(customers, tills):
    """(mean wait, longest wait) with one shared queue and `tills` servers.

    >>> simulate([(0, 5), (1, 5), (2, 1)], 1)
    (4.0, 8)
    >>> simulate([(0, 5), (1, 5), (2, 1)], 2)
    (1.0, 3)
    """
    free_at = [0] * tills
    heapq.heapify(free_at)
    waits = []
    for arrive, service in customers:
        start = max(arrive, heapq.heappop(free_at))
        waits.append(start - arrive)
        heapq.heappush(free_at, start + service)
    return sum(waits) / len(waits), max(waits)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    day = arrivals(600, mean_gap=0.8, mean_service=3.0, seed=19)
    print(f"{len(day)} customers over {day[-1][0] / 60:.1f} hours")
    for tills in range(3, 8):
        mean, worst = simulate(day, tills)
        print(f"{tills} tills: mean wait {mean:6.2f} min, longest {worst:6.2f} min")
