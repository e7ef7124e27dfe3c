"""A loan's monthly payment and amortization schedule."""
import doctest
import sys
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def payment(principal, yearly_rate, months):
    """Fixed monthly payment, rounded to the cent.

    >>> payment(Decimal("200000"), Decimal("0.06"), 360)
    Decimal('1199.10')
    """
    r = yearly_rate / 12
    p = principal * r / (1 - (1 + r) ** -months)
    return p.quantize(CENT, ROUND_HALF_UP)


def schedule(principal, yearly_rate, months):
    """(month, interest, principal paid, balance) rows; the last payment clears it.

    >>> rows = schedule(Decimal("1000"), Decimal("0.12"), 3)
    >>> rows[-1][3], sum(r[2] for r in rows)
    (Decimal('0.00'), Decimal('1000.00'))
    """
    pay, balance, rows = payment(principal, yearly_rate, months), principal, []
    for m in range(1, months + 1):
        interest = (balance * yearly_rate / 12).quantize(CENT, ROUND_HALF_UP)
        paid = min(pay - interest, balance) if m < months else balance
        balance -= paid
        rows.append((m, interest, paid, balance.quantize(CENT)))
    return rows


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    rows = schedule(Decimal("25000"), Decimal("0.045"), 60)
    print("payment", payment(Decimal("25000"), Decimal("0.045"), 60))
    print("total interest", sum(r[1] for r in rows))
    for r in rows[:2] + rows[-1:]:
        print(*r)
