"""Invoice totals with per-line VAT rates and exact decimal rounding."""
import doctest
import sys
from decimal import ROUND_HALF_UP, Decimal

LINES = [("Consulting (hours)", 12, "95.00", "0.20"),
         ("Travel", 1, "143.60", "0.20"),
         ("Books", 3, "24.99", "0.00"),
         ("Printing", 250, "0.07", "0.20")]


def money(x):
    """Round to the cent, halves up.

    >>> money(Decimal("2.675")), money(Decimal("2.665"))
    (Decimal('2.68'), Decimal('2.67'))
    """
    return Decimal(x).quantize(Decimal("0.01"), ROUND_HALF_UP)


def totals(lines):
    """(net, vat, gross) with VAT rounded per line.

    >>> totals([("a", 2, "10.00", "0.20"), ("b", 1, "5.00", "0")])
    (Decimal('25.00'), Decimal('4.00'), Decimal('29.00'))
    """
    net = vat = Decimal("0")
    for _, qty, price, rate in lines:
        line_net = money(qty * Decimal(price))
        net += line_net
        vat += money(line_net * Decimal(rate))
    return net, vat, net + vat


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for desc, qty, price, rate in LINES:
        print(f"{desc:<20}{qty:>5} x {price:>7}  {money(qty * Decimal(price)):>9}")
    net, vat, gross = totals(LINES)
    print(f"{'net':<34}{net:>9}\n{'VAT':<34}{vat:>9}\n{'total':<34}{gross:>9}")
