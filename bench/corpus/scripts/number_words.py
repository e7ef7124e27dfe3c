"""Spell out numbers in English, as on a cheque."""
import doctest
import sys

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = [(10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand")]


def below_thousand(n):
    """Words for 0 < n < 1000.

    >>> below_thousand(342), below_thousand(19), below_thousand(80)
    ('three hundred forty-two', 'nineteen', 'eighty')
    """
    parts = []
    if n >= 100:
        parts.append(ONES[n // 100] + " hundred")
        n %= 100
    if n >= 20:
        parts.append(TENS[n // 10] + ("-" + ONES[n % 10] if n % 10 else ""))
    elif n:
        parts.append(ONES[n])
    return " ".join(parts)


def words(n):
    """Any integer in words.

    >>> words(0), words(-7)
    ('zero', 'minus seven')
    >>> words(1_002_030)
    'one million two thousand thirty'
    """
    if n == 0:
        return "zero"
    if n < 0:
        return "minus " + words(-n)
    parts = []
    for size, name in SCALES:
        if n >= size:
            parts.append(words(n // size) + " " + name)
            n %= size
    if n:
        parts.append(below_thousand(n))
    return " ".join(parts)


def cheque(amount):
    """The line written on a cheque for an amount in cents.

    >>> cheque(125050)
    'One thousand two hundred fifty and 50/100 dollars'
    """
    text = words(amount // 100)
    return f"{text[0].upper()}{text[1:]} and {amount % 100:02d}/100 dollars"


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for cents in (4200, 99999, 1_000_001, 73_015_00, 3_000_000_017_45):
        print(f"${cents / 100:>18,.2f}  {cheque(cents)}")
