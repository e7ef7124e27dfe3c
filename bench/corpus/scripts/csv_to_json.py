"""Turn a CSV export into typed JSON records."""
import csv
import doctest
import io
import json
import sys

EXPORT = """id,name,active,score,joined,tags
1,Ada,yes,91.5,2021-03-04,admin;dev
2,Brian,no,,2022-11-30,
3,Chen,yes,78,2023-07-15,dev
4,Dana,YES,88.25,2020-01-01,ops;dev;oncall
"""


def coerce(value):
    """A CSV cell as int, float, bool, None or str.

    >>> [coerce(v) for v in ["12", "1.5", "yes", "No", "", "2021-03-04"]]
    [12, 1.5, True, False, None, '2021-03-04']
    """
    if value == "":
        return None
    if value.lower() in ("yes", "no", "true", "false"):
        return value.lower() in ("yes", "true")
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def records(text, list_columns=("tags",)):
    """Rows as dicts of coerced values; list columns split on ';'.

    >>> records("a,tags\\n1,x;y\\n2,\\n")
    [{'a': 1, 'tags': ['x', 'y']}, {'a': 2, 'tags': []}]
    """
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        rec = {}
        for key, value in row.items():
            rec[key] = [v for v in value.split(";") if v] if key in list_columns else coerce(value)
        out.append(rec)
    return out


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    recs = records(EXPORT)
    for rec in recs:
        print(json.dumps(rec, sort_keys=True))
    scored = [r["score"] for r in recs if r["score"] is not None]
    print("mean score of", len(scored), "scored:", round(sum(scored) / len(scored), 2))
