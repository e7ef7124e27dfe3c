"""A stack-based RPN calculator with a few stack words."""
import doctest
import math
import sys

PROGRAM = "3 4 + 2 * dup * 1 swap - 2 sqrt *"


def run(program):
    """Run space-separated words and return the stack.

    >>> run("1 2 3 + +")
    [6.0]
    >>> run("5 dup *")
    [25.0]
    >>> run("1 +")
    Traceback (most recent call last):
    ...
    ValueError: '+' needs 2 values, the stack has 1
    """
    binary = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
              "*": lambda a, b: a * b, "/": lambda a, b: a / b}
    stack = []
    for word in program.split():
        if word in binary:
            if len(stack) < 2:
                raise ValueError(f"{word!r} needs 2 values, the stack has {len(stack)}")
            b, a = stack.pop(), stack.pop()
            stack.append(binary[word](a, b))
        elif word == "dup":
            stack.append(stack[-1])
        elif word == "swap":
            stack[-1], stack[-2] = stack[-2], stack[-1]
        elif word == "sqrt":
            stack.append(math.sqrt(stack.pop()))
        else:
            stack.append(float(word))
    return stack


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    print(f"{PROGRAM} => {run(PROGRAM)[-1]:.6f}")
