"""Luhn checksums for card-like numbers."""
import doctest
import sys


def luhn_sum(digits):
    """The Luhn sum of a string of digits.

    >>> luhn_sum("79927398713")
    70
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total


def is_valid(number):
    """Whether number (spaces allowed) passes the Luhn check.

    >>> is_valid("4539 3195 0343 6467")
    True
    >>> is_valid("8273 1232 7352 0569")
    False
    """
    digits = number.replace(" ", "")
    return digits.isdigit() and luhn_sum(digits) % 10 == 0


def check_digit(partial):
    """The digit that makes partial + digit valid.

    >>> check_digit("7992739871")
    3
    """
    return (10 - luhn_sum(partial + "0") % 10) % 10


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    base = "400000000000000"
    cards = [base[:-3] + f"{i:03d}" for i in range(0, 1000, 137)]
    print([c + str(check_digit(c)) for c in cards][:4])
    print(sum(is_valid(c + str(check_digit(c))) for c in cards), "of", len(cards), "valid")
