"""Gray codes and bit tricks: population count, parity, reversal."""
import doctest
import sys


def gray(n):
    """Gray code of n.

    >>> [gray(i) for i in range(8)]
    [0, 1, 3, 2, 6, 7, 5, 4]
    """
    return n ^ (n >> 1)


def from_gray(g):
    """Inverse of gray.

    >>> [from_gray(gray(i)) for i in range(8)]
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    n = 0
    while g:
        n ^= g
        g >>= 1
    return n


def popcount(n):
    """Set bits, by clearing the lowest one each step.

    >>> popcount(0b1011_0110)
    5
    """
    count = 0
    while n:
        n &= n - 1
        count += 1
    return count


def reverse_bits(n, width=8):
    """n's low width bits in reverse order.

    >>> bin(reverse_bits(0b0000_0110))
    '0b1100000'
    """
    return int(format(n, f"0{width}b")[::-1], 2)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    codes = [gray(i) for i in range(16)]
    assert all(popcount(a ^ b) == 1 for a, b in zip(codes, codes[1:]))
    print(" ".join(format(c, "04b") for c in codes))
    print("parity of 2**64-1:", popcount(2**64 - 1) % 2)
