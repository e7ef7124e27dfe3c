"""Schedule jobs on one machine by earliest deadline and report lateness."""
import doctest
import heapq
import sys

# name, release time, duration, deadline (hours)
JOBS = [("backup", 0, 3, 6), ("report", 1, 2, 4), ("invoice", 2, 1, 3), ("reindex", 3, 4, 14),
        ("email", 5, 1, 7), ("thumbnails", 6, 2, 9), ("audit", 8, 3, 12)]


def edf(jobs):
    """Non-preemptive earliest-deadline-first: (name, start, end, late by).

    >>> edf([("a", 0, 2, 5), ("b", 0, 1, 1), ("c", 4, 1, 5)])
    [('b', 0, 1, 0), ('a', 1, 3, 0), ('c', 4, 5, 0)]
    """
    pending = sorted(jobs, key=lambda j: j[1])
    ready, out, t, i = [], [], 0, 0
    while i < len(pending) or ready:
        while i < len(pending) and pending[i][1] <= t:
            name, _, duration, deadline = pending[i]
            heapq.heappush(ready, (deadline, name, duration))
            i += 1
        if not ready:
            t = pending[i][1]
            continue
        deadline, name, duration = heapq.heappop(ready)
        out.append((name, t, t + duration, max(0, t + duration - deadline)))
        t += duration
    return out


def fifo(jobs):
    """The same jobs run in order of release, for comparison.

    >>> fifo([("a", 0, 2, 5), ("b", 0, 1, 1)])
    [('a', 0, 2, 0), ('b', 2, 3, 2)]
    """
    out, t = [], 0
    for name, release, duration, deadline in sorted(jobs, key=lambda j: j[1]):
        t = max(t, release)
        out.append((name, t, t + duration, max(0, t + duration - deadline)))
        t += duration
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for policy in (fifo, edf):
        plan = policy(JOBS)
        print(policy.__name__, " ".join(f"{n}[{s}-{e}]" for n, s, e, _ in plan))
        late = [(n, d) for n, _, _, d in plan if d]
        print(f"  late: {late or 'none'}, total lateness {sum(d for _, d in late)} h")
