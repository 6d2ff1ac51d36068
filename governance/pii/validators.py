"""Checksum and format validators for identifiers the recognizers look for. Pure functions: digits in, bool out.

They decide whether a candidate that looks like an identifier is one, which is what keeps an 11-digit order
number from being redacted as a TCKN and a real TCKN from slipping through as "just a number".
"""

from __future__ import annotations

import re
from datetime import date

from governance.pii.text import fold

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def digits_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isdigit())


def tckn_valid(value: str) -> bool:
    """Turkish national identity number: 11 digits, first not 0,
    d10 = (7·(d1+d3+d5+d7+d9) − (d2+d4+d6+d8)) mod 10, d11 = (d1+…+d10) mod 10."""
    if len(value) != 11 or not (value.isascii() and value.isdigit()) or value[0] == "0":
        return False
    d = [int(ch) for ch in value]
    odd = d[0] + d[2] + d[4] + d[6] + d[8]
    even = d[1] + d[3] + d[5] + d[7]
    return (7 * odd - even) % 10 == d[9] and sum(d[:10]) % 10 == d[10]


def vkn_valid(value: str) -> bool:
    """Turkish tax number (Vergi Kimlik Numarası), 10 digits, the Revenue Administration's (GİB) checksum."""
    if len(value) != 10 or not (value.isascii() and value.isdigit()):
        return False
    total = 0
    for index in range(9):
        shifted = (int(value[index]) + 9 - index) % 10
        if shifted:
            weighted = (shifted * 2 ** (9 - index)) % 9
            total += weighted or 9
    return (10 - total % 10) % 10 == int(value[9])


# Lengths of IBANs by country (ISO 13616 registry, the common ones; unknown countries: 15–34 characters).
IBAN_LENGTHS = {
    "TR": 26, "DE": 22, "GB": 22, "FR": 27, "NL": 18, "BE": 16, "ES": 24, "IT": 27, "AT": 20, "CH": 21,
    "PL": 28, "SE": 24, "NO": 15, "DK": 18, "FI": 18, "IE": 22, "PT": 25, "GR": 27, "CY": 28, "LU": 20,
    "CZ": 24, "SK": 24, "HU": 28, "RO": 24, "BG": 22, "HR": 21, "SI": 19, "EE": 20, "LV": 21, "LT": 20,
    "MT": 31, "IS": 26, "LI": 21, "MC": 27, "SM": 27, "AD": 24, "AE": 23, "SA": 24, "QA": 29, "KW": 30,
    "BH": 22, "JO": 30, "LB": 28, "IL": 23, "EG": 29, "AZ": 28, "GE": 22, "KZ": 20, "UA": 29, "BA": 20,
    "RS": 22, "ME": 22, "MK": 19, "AL": 28, "XK": 20, "MD": 24, "BY": 28, "PK": 24, "BR": 29, "MU": 30,
}  # fmt: skip


def iban_valid(value: str) -> bool:
    """Any country's IBAN (spaces and dashes ignored): country code, length, mod-97 == 1."""
    iban = _NON_ALNUM.sub("", value).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[0-9A-Z]{11,30}", iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    if iban[:2] == "TR" and not iban[4:].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def luhn_valid(value: str) -> bool:
    """Payment card numbers: 13–19 digits passing the Luhn check."""
    digits = digits_only(value)
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for index, ch in enumerate(reversed(digits)):
        n = int(ch)
        if index % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def tr_plate_valid(value: str) -> bool:
    """Turkish licence plates: province 01–81, 1–3 letters, 2–4 digits (e.g. 34 ABC 123, 06 A 1234)."""
    match = re.fullmatch(r"(\d{2})\s?([A-Z]{1,3})\s?(\d{2,4})", value.strip().upper())
    return match is not None and 1 <= int(match.group(1)) <= 81


_MONTHS = {
    # Turkish and English month names (folded, see text.fold) and common abbreviations.
    **dict.fromkeys(["ocak", "oca", "january", "jan"], 1),
    **dict.fromkeys(["subat", "sub", "february", "feb"], 2),
    **dict.fromkeys(["mart", "mar", "march"], 3),
    **dict.fromkeys(["nisan", "nis", "april", "apr"], 4),
    **dict.fromkeys(["mayis", "may"], 5),
    **dict.fromkeys(["haziran", "haz", "june", "jun"], 6),
    **dict.fromkeys(["temmuz", "tem", "july", "jul"], 7),
    **dict.fromkeys(["agustos", "agu", "august", "aug"], 8),
    **dict.fromkeys(["eylul", "eyl", "september", "sep", "sept"], 9),
    **dict.fromkeys(["ekim", "eki", "october", "oct"], 10),
    **dict.fromkeys(["kasim", "kas", "november", "nov"], 11),
    **dict.fromkeys(["aralik", "ara", "december", "dec"], 12),
}


def date_valid(text: str) -> bool:
    """A plausible date of birth: a real calendar date, 1900 up to this year (numeric or with month names)."""
    parts = re.findall(r"\d+|[^\W\d_]+", fold(text))
    numbers = [int(p) for p in parts if p.isdigit()]
    words = [p for p in parts if not p.isdigit()]
    if words:
        month = _MONTHS.get(words[0])
        if month is None or len(numbers) != 2:
            return False
        day, year = (numbers[0], numbers[1]) if numbers[0] <= 31 else (numbers[1], numbers[0])
    elif len(numbers) == 3:
        if numbers[0] > 31:  # ISO: 1985-03-12
            year, month, day = numbers
        else:  # dd.mm.yyyy as written in Turkey and Europe; mm/dd/yyyy when the day cannot be a month
            day, month, year = numbers
            if month > 12 and day <= 12:
                day, month = month, day
    else:
        return False
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return 1900 <= born.year <= date.today().year  # noqa: DTZ011 — only the year matters
