"""Tic-tac-toe: winner detection and a perfect-play minimax."""
import doctest
import sys
from functools import lru_cache

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def winner(board):
    """'X', 'O' or None for a 9-character board.

    >>> winner("XXXOO....")
    'X'
    >>> winner("XOXOXOOXO") is None
    True
    """
    for a, b, c in LINES:
        if board[a] != "." and board[a] == board[b] == board[c]:
            return board[a]
    return None


@lru_cache(maxsize=None)
def value(board, player):
    """+1 if X wins with best play, -1 if O does, 0 for a draw.

    >>> value("." * 9, "X")
    0
    >>> value("XX.OO....", "X")
    1
    """
    w = winner(board)
    if w:
        return 1 if w == "X" else -1
    if "." not in board:
        return 0
    other = "O" if player == "X" else "X"
    results = [value(board[:i] + player + board[i + 1:], other)
               for i, c in enumerate(board) if c == "."]
    return max(results) if player == "X" else min(results)


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    value("." * 9, "X")
    print("positions evaluated:", value.cache_info().currsize, "; perfect play is a draw")
