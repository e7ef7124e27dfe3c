"""Split a trip's shared expenses and settle up in few payments."""
import doctest
import sys
from decimal import ROUND_HALF_UP, Decimal

PAID = [("Ana", "cabin", "420.00", ["Ana", "Ben", "Cleo", "Dev"]),
        ("Ben", "groceries", "96.40", ["Ana", "Ben", "Cleo", "Dev"]),
        ("Cleo", "fuel", "58.00", ["Ben", "Cleo"]),
        ("Dev", "boat hire", "390.00", ["Ana", "Cleo", "Dev"]),
        ("Ana", "dinner", "131.10", ["Ana", "Ben", "Cleo", "Dev"])]
CENT = Decimal("0.01")


def balances(payments):
    """Net per person: positive is owed money, negative owes it.

    >>> balances([("A", "x", "10.00", ["A", "B", "C"])])
    {'A': Decimal('6.67'), 'B': Decimal('-3.33'), 'C': Decimal('-3.34')}
    """
    net = {}
    for payer, _, amount, sharers in payments:
        total = Decimal(amount)
        share = (total / len(sharers)).quantize(CENT, ROUND_HALF_UP)
        shares = [share] * (len(sharers) - 1) + [total - share * (len(sharers) - 1)]
        net[payer] = net.get(payer, Decimal(0)) + total
        for person, owed in zip(sharers, shares):
            net[person] = net.get(person, Decimal(0)) - owed
    return net


def settle(net):
    """Payments (from, to, amount) matching the biggest debtor with the biggest creditor.

    >>> settle({"A": Decimal("5"), "B": Decimal("-3"), "C": Decimal("-2")})
    [('B', 'A', Decimal('3')), ('C', 'A', Decimal('2'))]
    """
    owed = sorted((v, k) for k, v in net.items() if v > 0)
    owing = sorted((-v, k) for k, v in net.items() if v < 0)
    payments = []
    while owed and owing:
        credit, creditor = owed.pop()
        debt, debtor = owing.pop()
        amount = min(credit, debt)
        payments.append((debtor, creditor, amount))
        if credit > amount:
            owed.append((credit - amount, creditor)); owed.sort()
        if debt > amount:
            owing.append((debt - amount, debtor)); owing.sort()
    return payments


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    net = balances(PAID)
    for person, value in sorted(net.items()):
        print(f"{person:<5}{value:>9}")
    for debtor, creditor, amount in settle(net):
        print(f"{debtor} pays {creditor} {amount}")
    print("total spent:", sum(Decimal(p[2]) for p in PAID))
