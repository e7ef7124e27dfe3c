"""Check that brackets in code snippets are balanced."""
import doctest
import sys

PAIRS = {")": "(", "]": "[", "}": "{"}
SNIPPETS = ["def f(x): return [x * 2 for x in range(10)]",
            "{'a': [1, 2, (3, 4)]}",
            "print((1 + 2]",
            "if (a and (b or c):",
            "s = '(not counted' + \"[nor this\""]


def first_error(code):
    """Index of the first unbalanced bracket, or None; quotes are skipped.

    >>> first_error("(a[b]{c})") is None
    True
    >>> first_error("(]")
    1
    >>> first_error("((")
    0
    >>> first_error("')'") is None
    True
    """
    stack, quote = [], None
    for i, ch in enumerate(code):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            stack.append(i)
        elif ch in PAIRS:
            if not stack or code[stack[-1]] != PAIRS[ch]:
                return i
            stack.pop()
    return stack[0] if stack else None


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for s in SNIPPETS:
        err = first_error(s)
        print("ok  " if err is None else f"@{err:<3}", s)
