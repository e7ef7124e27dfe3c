"""Palindromic phrases and the longest palindromic substring."""
import doctest
import sys


def is_palindrome(phrase):
    """Ignoring case, spaces and punctuation.

    >>> is_palindrome("A man, a plan, a canal: Panama")
    True
    >>> is_palindrome("Not a palindrome")
    False
    """
    letters = [c.lower() for c in phrase if c.isalnum()]
    return letters == letters[::-1]


def longest_palindrome(s):
    """Longest palindromic substring by expanding around centres.

    >>> longest_palindrome("babad")
    'bab'
    >>> longest_palindrome("forgeeksskeegfor")
    'geeksskeeg'
    """
    best = ""
    for centre in range(2 * len(s) - 1):
        lo, hi = centre // 2, centre // 2 + centre % 2
        while lo >= 0 and hi < len(s) and s[lo] == s[hi]:
            lo, hi = lo - 1, hi + 1
        if hi - lo - 1 > len(best):
            best = s[lo + 1:hi]
    return best


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    phrases = ["Was it a car or a cat I saw?", "No lemon, no melon", "Hello there"]
    print([p for p in phrases if is_palindrome(p)])
    dna = "ACGTTGCATGCAACGTTGCAAGGAATTCCTTACGGATCCGTA" * 3
    print("longest in dna:", longest_palindrome(dna))
