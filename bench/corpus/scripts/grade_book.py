"""Weighted course grades from an embedded CSV grade book."""
import csv
import doctest
import io
import sys

BOOK = """student,homework,midterm,final
Avery,92,78,85
Blake,65,70,58
Casey,88,94,91
Devon,75,82,79
Emery,99,60,72
"""
WEIGHTS = {"homework": 0.3, "midterm": 0.3, "final": 0.4}


def weighted(row, weights=WEIGHTS):
    """Weighted score of one row.

    >>> weighted({"homework": "100", "midterm": "50", "final": "75"})
    75.0
    """
    return round(sum(float(row[k]) * w for k, w in weights.items()), 2)


def letter(score):
    """Letter grade.

    >>> [letter(s) for s in (95, 85, 75, 65, 50)]
    ['A', 'B', 'C', 'D', 'F']
    """
    for cutoff, grade in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
        if score >= cutoff:
            return grade
    return "F"


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    rows = list(csv.DictReader(io.StringIO(BOOK)))
    results = sorted(((weighted(r), r["student"]) for r in rows), reverse=True)
    for score, name in results:
        print(f"{name:<6} {score:6.2f} {letter(score)}")
    print(f"class average {sum(s for s, _ in results) / len(results):.2f}")
