"""Evaluate arithmetic expressions with the shunting-yard algorithm."""
import doctest
import operator
import re
import sys

OPS = {"+": (1, operator.add), "-": (1, operator.sub),
       "*": (2, operator.mul), "/": (2, operator.truediv), "^": (3, operator.pow)}


def tokens(expr):
    """Numbers, operators and parentheses.

    >>> tokens("3 + 4.5*(2-1)")
    ['3', '+', '4.5', '*', '(', '2', '-', '1', ')']
    """
    found = re.findall(r"\d+\.?\d*|[-+*/^()]|\S", expr)
    for t in found:
        if not (t in OPS or t in "()" or t[0].isdigit()):
            raise ValueError(f"unexpected {t!r} in {expr!r}")
    return found


def to_rpn(expr):
    """Reverse Polish order; ^ is right-associative.

    >>> to_rpn("3 + 4 * 2 / (1 - 5) ^ 2 ^ 3")
    ['3', '4', '2', '*', '1', '5', '-', '2', '3', '^', '^', '/', '+']
    """
    out, stack = [], []
    for t in tokens(expr):
        if t in OPS:
            while stack and stack[-1] in OPS and (OPS[stack[-1]][0] > OPS[t][0]
                                                  or (OPS[stack[-1]][0] == OPS[t][0] and t != "^")):
                out.append(stack.pop())
            stack.append(t)
        elif t == "(":
            stack.append(t)
        elif t == ")":
            while stack[-1] != "(":
                out.append(stack.pop())
            stack.pop()
        else:
            out.append(t)
    return out + stack[::-1]


def evaluate(expr):
    """Value of expr.

    >>> evaluate("2 * (3 + 4) - 10 / 4")
    11.5
    """
    stack = []
    for t in to_rpn(expr):
        if t in OPS:
            b, a = stack.pop(), stack.pop()
            stack.append(OPS[t][1](a, b))
        else:
            stack.append(float(t) if "." in t else int(t))
    return stack[0]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for e in ("1 + 2 * 3", "(1 + 2) * 3", "2 ^ 3 ^ 2", "100 / 8 - 0.5"):
        print(f"{e:<14} = {evaluate(e)}")
