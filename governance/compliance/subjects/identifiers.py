"""What identifies the data subject: the identifiers an officer gives, checked; their keys in the subject
index; the subject's audit pseudonyms; and the regular expressions that find each identifier however it is
written (``TR33 0006 …``, ``+90 (532) …``, ``AYŞE YILMAZ`` for Ayşe Yılmaz) and its pseudonym where a policy
hashed it (``<TCKN_3fa9…>``)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import defaultdict
from typing import Any

from django.views.decorators.debug import sensitive_variables

from governance.models import SubjectKey
from governance.pii.redaction import pseudonym, subject_key
from governance.pii.validators import digits_only, iban_valid, tckn_valid, vkn_valid

# API field → entity type of the PII layer.
IDENTIFIERS = {
    "tckn": "TCKN",
    "vkn": "VKN",
    "email": "EMAIL",
    "phone": "PHONE",
    "iban": "IBAN",
    "name": "PERSON",
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SubjectRequestError(ValueError):
    """The request is invalid or not allowed now; ``errors`` maps fields to messages."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {"detail": message}


@sensitive_variables("data", "clean", "values", "raw")
def identifiers_clean(data: Any) -> dict[str, list[str]]:
    """Validate what the officer typed: each field a value or a list of values (a person may have two
    e-mail addresses); checksums where the identifier has one. Raises SubjectRequestError per field."""
    if not isinstance(data, dict) or not data:
        raise SubjectRequestError("Give at least one identifier.", {"identifiers": "at least one identifier"})
    errors: dict[str, str] = {}
    clean: dict[str, list[str]] = {}
    for name, raw in data.items():
        if name not in IDENTIFIERS:
            errors[name] = f"unknown identifier; one of: {', '.join(IDENTIFIERS)}"
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values or not all(isinstance(v, str) and v.strip() and len(v) <= 200 for v in values):
            errors[name] = "a non-empty text (or a list of them) of at most 200 characters"
            continue
        values = list(dict.fromkeys(v.strip() for v in values))[:10]
        problem = next((p for p in (_problem(name, v) for v in values) if p), "")
        if problem:
            errors[name] = problem
        else:
            clean[name] = values
    if errors:
        raise SubjectRequestError("Some identifiers are not valid.", errors)
    return clean


def _problem(name: str, value: str) -> str:
    if name == "tckn" and not tckn_valid(digits_only(value)):
        return "not a valid T.C. kimlik no (11 digits, checksum)"
    if name == "vkn" and not vkn_valid(digits_only(value)):
        return "not a valid tax number (10 digits, checksum)"
    if name == "iban" and not iban_valid(value):
        return "not a valid IBAN"
    if name == "email" and not _EMAIL.fullmatch(value):
        return "not an e-mail address"
    if name == "phone" and not 10 <= len(digits_only(value)) <= 15:
        return "a phone number has 10 to 15 digits"
    if name == "name" and len(value.split()) < 2:
        # One word would match every namesake: the exact search needs given name and surname.
        return "the full name: given name(s) and surname"
    return ""


def identifier_pairs(identifiers: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(IDENTIFIERS[name], value) for name, values in identifiers.items() for value in values]


def subject_keys(identifiers: dict[str, list[str]]) -> set[str]:
    return {subject_key(entity_type, value) for entity_type, value in identifier_pairs(identifiers)}


def subject_ref(key: SubjectKey) -> str:
    return hmac.new(bytes.fromhex(key.secret), b"audit-ref", hashlib.sha256).hexdigest()[:16]


def subject_refs(identifiers: dict[str, list[str]], *, create: bool) -> dict[str, list[str]]:
    """The subject's audit pseudonyms: HMAC(own random key of each identifier). ``create``: make missing keys;
    otherwise an identifier whose key was shredded has no ref any more."""
    refs: dict[str, list[str]] = defaultdict(list)
    for entity_type, value in identifier_pairs(identifiers):
        lookup = subject_key(entity_type, value)
        key = SubjectKey.objects.filter(lookup=lookup).first()
        if key is None and create:
            SubjectKey.objects.get_or_create(lookup=lookup, defaults={"secret": secrets.token_hex(32)})
            key = SubjectKey.objects.get(lookup=lookup)
        if key is not None:
            refs[entity_type].append(subject_ref(key))
    return dict(refs)


# --- spellings: the exact search's regular expressions ---------------------------------------------------


_SEPARATORS = r"[[:space:].()/-]{0,3}"
_LETTER_CLASSES = {
    "i": "iıİI", "ı": "ıiIİ", "İ": "iıİI", "I": "ıiIİ", "s": "sşSŞ", "ş": "sşSŞ", "g": "gğGĞ", "ğ": "gğGĞ",
    "c": "cçCÇ", "ç": "cçCÇ", "o": "oöOÖ", "ö": "oöOÖ", "u": "uüUÜûÛ", "ü": "uüUÜ", "a": "aâAÂ", "â": "aâAÂ",
}  # fmt: skip


def _letters(word: str) -> str:
    out = []
    for ch in word:
        variants = _LETTER_CLASSES.get(ch) or _LETTER_CLASSES.get(ch.lower())
        if variants:
            out.append(f"[{variants}]")
        elif ch.isalpha():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _digits(digits: str) -> str:
    return _SEPARATORS.join(digits)


def identifier_patterns(identifiers: dict[str, list[str]]) -> list[str]:
    """PostgreSQL regular expressions matching each identifier however it is written, and its pseudonym."""
    patterns: list[str] = []
    for entity_type, value in identifier_pairs(identifiers):
        patterns.append(re.escape(f"<{entity_type}_{pseudonym(entity_type, value)}>"))
        if entity_type in {"TCKN", "VKN"}:
            patterns.append(f"(^|[^0-9]){_digits(digits_only(value))}([^0-9]|$)")
        elif entity_type == "PHONE":
            digits = digits_only(value)
            national = digits[-10:] if digits.startswith(("90", "0")) or len(digits) == 10 else digits
            # 0532…, (0532)…, +90 532…, 0090 532…: the trunk or country prefix may precede the number.
            prefix = r"(\+?[[:space:]]*90|0090|0)?[[:space:].()/-]{0,3}"
            patterns.append(f"(^|[^0-9]){prefix}{_digits(national)}([^0-9]|$)")
        elif entity_type == "IBAN":
            compact = re.sub(r"[^0-9A-Za-z]", "", value).upper()
            patterns.append(_SEPARATORS.join(_letters(ch) if ch.isalpha() else ch for ch in compact))
        elif entity_type == "EMAIL":
            # Whole addresses only: ali@x.com is not inside mehmet.ali@x.com or ali@x.com.tr.
            patterns.append(
                f"(^|[^[:alnum:]._%+-]){_letters(value.strip())}([^[:alnum:]_.-]|[.]([^[:alnum:]]|$)|$)"
            )
        else:  # a full name: the words in order, any spacing, Turkish letters either way
            words = [_letters(word) for word in value.split()]
            patterns.append(r"(^|[^[:alpha:]])" + r"[[:space:]]+".join(words) + r"([^[:alpha:]]|$)")
    return patterns


def identifiers_regex(identifiers: dict[str, list[str]]) -> str:
    return "|".join(f"({p})" for p in identifier_patterns(identifiers))
