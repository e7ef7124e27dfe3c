"""Score ten-pin bowling games from their roll sequences."""
import doctest
import sys

GAMES = {"Kim": "X 7/ 9- X -8 8/ -6 X X X81", "Lou": "9- 9- 9- 9- 9- 9- 9- 9- 9- 9-",
         "Max": "X X X X X X X X X XXX", "Noa": "5/ 5/ 5/ 5/ 5/ 5/ 5/ 5/ 5/ 5/5"}


def rolls(sheet):
    """Pins knocked down per roll from score-sheet notation (X, /, -).

    >>> rolls("X 7/ 9- X81")
    [10, 7, 3, 9, 0, 10, 8, 1]
    """
    pins = []
    for mark in sheet.replace(" ", ""):
        if mark == "X":
            pins.append(10)
        elif mark == "/":
            pins.append(10 - pins[-1])
        else:
            pins.append(0 if mark == "-" else int(mark))
    return pins


def score(pins):
    """Total of ten frames with strike and spare bonuses.

    >>> score([10] * 12), score([0] * 20), score([9, 1] * 10 + [9])
    (300, 0, 190)
    """
    total, i = 0, 0
    for _ in range(10):
        if pins[i] == 10:
            total += 10 + pins[i + 1] + pins[i + 2]
            i += 1
        elif pins[i] + pins[i + 1] == 10:
            total += 10 + pins[i + 2]
            i += 2
        else:
            total += pins[i] + pins[i + 1]
            i += 2
    return total


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    table = sorted(((score(rolls(s)), name) for name, s in GAMES.items()), reverse=True)
    for place, (points, name) in enumerate(table, 1):
        print(f"{place}. {name:<4}{points:>4}  {GAMES[name]}")
