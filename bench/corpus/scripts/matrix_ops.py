"""Matrix multiply, transpose and power on lists of lists."""
import doctest
import sys


def transpose(m):
    """Rows become columns.

    >>> transpose([[1, 2, 3], [4, 5, 6]])
    [[1, 4], [2, 5], [3, 6]]
    """
    return [list(col) for col in zip(*m)]


def matmul(a, b):
    """Product of a (n x k) and b (k x m).

    >>> matmul([[1, 2], [3, 4]], [[5, 6], [7, 8]])
    [[19, 22], [43, 50]]
    """
    cols = transpose(b)
    return [[sum(x * y for x, y in zip(row, col)) for col in cols] for row in a]


def matpow(m, n):
    """m to the power n by repeated squaring.

    >>> matpow([[1, 1], [1, 0]], 10)
    [[89, 55], [55, 34]]
    """
    result = [[int(i == j) for j in range(len(m))] for i in range(len(m))]
    while n:
        if n & 1:
            result = matmul(result, m)
        m = matmul(m, m)
        n >>= 1
    return result


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    a = [[(i * 7 + j * 3) % 10 for j in range(30)] for i in range(30)]
    p = matmul(a, transpose(a))
    print("trace of A*At:", sum(p[i][i] for i in range(30)))
    print("fib(90) =", matpow([[1, 1], [1, 0]], 90)[0][1])
