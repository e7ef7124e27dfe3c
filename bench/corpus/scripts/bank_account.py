"""A bank account simulation with overdraft rules and monthly interest."""
import doctest
import sys
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


class InsufficientFunds(Exception):
    pass


class Account:
    """An account with a balance in Decimal.

    >>> a = Account("ann", "100.00")
    >>> a.deposit("50.25"); a.withdraw("20")
    >>> a.balance
    Decimal('130.25')
    >>> a.withdraw("500")
    Traceback (most recent call last):
    ...
    InsufficientFunds: ann has 130.25, cannot withdraw 500
    """

    def __init__(self, owner, balance="0", overdraft="0"):
        self.owner = owner
        self.balance = Decimal(balance)
        self.overdraft = Decimal(overdraft)
        self.history = []

    def deposit(self, amount):
        self.balance += Decimal(amount)
        self.history.append(("deposit", Decimal(amount)))

    def withdraw(self, amount):
        amount = Decimal(amount)
        if amount > self.balance + self.overdraft:
            raise InsufficientFunds(f"{self.owner} has {self.balance}, cannot withdraw {amount}")
        self.balance -= amount
        self.history.append(("withdraw", amount))

    def add_interest(self, yearly_rate):
        """Credit one month of interest, rounded to the cent.

        >>> a = Account("bo", "1000"); a.add_interest("0.05"); a.balance
        Decimal('1004.17')
        """
        interest = (self.balance * Decimal(yearly_rate) / 12).quantize(CENT, ROUND_HALF_EVEN)
        self.deposit(interest)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    acct = Account("carol", "2500.00", overdraft="200")
    for month in range(12):
        acct.deposit("300")
        acct.withdraw("275.50")
        acct.add_interest("0.035")
    print(f"{acct.owner}: {acct.balance} after {len(acct.history)} transactions")
