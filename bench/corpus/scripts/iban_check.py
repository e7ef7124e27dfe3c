"""Validate IBANs with the mod-97 check."""
import doctest
import sys

LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "BE": 16, "CH": 21}


def to_number(iban):
    """Move the first four characters to the end and spell letters as numbers.

    >>> to_number("GB82WEST12345698765432")
    3214282912345698765432161182
    """
    s = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in s))


def check(iban):
    """'ok' or what is wrong.

    >>> check("GB82 WEST 1234 5698 7654 32")
    'ok'
    >>> check("GB82 WEST 1234 5698 7654 33")
    'bad checksum'
    >>> check("XX00")
    'unknown country XX'
    """
    s = iban.replace(" ", "").upper()
    country = s[:2]
    if country not in LENGTHS:
        return f"unknown country {country}"
    if len(s) != LENGTHS[country]:
        return f"{country} IBANs have {LENGTHS[country]} characters, not {len(s)}"
    return "ok" if to_number(s) % 97 == 1 else "bad checksum"


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    for iban in ["DE89 3704 0044 0532 0130 00", "NL91 ABNA 0417 1643 00",
                 "BE68 5390 0754 7034", "FR14 2004 1010 0505 0001 3M02 606", "CH93 0076 2011 6238 5295"]:
        print(f"{iban:<34} {check(iban)}")
