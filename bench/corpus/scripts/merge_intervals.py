"""Merge overlapping time intervals and find free slots."""
import doctest
import sys


def merge(intervals):
    """Merge overlapping or touching [start, end] intervals.

    >>> merge([(1, 3), (2, 6), (8, 10), (15, 18)])
    [(1, 6), (8, 10), (15, 18)]
    >>> merge([(1, 4), (4, 5)])
    [(1, 5)]
    >>> merge([])
    []
    """
    out = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def free_slots(busy, day_start, day_end):
    """Gaps between merged busy intervals within the day.

    >>> free_slots([(10, 11), (9, 10), (13, 15)], 9, 17)
    [(11, 13), (15, 17)]
    """
    gaps, cursor = [], day_start
    for start, end in merge(busy):
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < day_end:
        gaps.append((cursor, day_end))
    return gaps


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    meetings = [(9.0, 9.5), (9.25, 10.0), (11.0, 12.0), (13.5, 14.0), (13.75, 15.0)]
    print("busy:", merge(meetings))
    print("free:", free_slots(meetings, 8.0, 17.0))
