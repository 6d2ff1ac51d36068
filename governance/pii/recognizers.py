"""Pattern recognizers for identifiers: a regular expression finds candidates, a validator (checksum, ranges)
keeps the real ones, context words in Turkish and English raise the score of the doubtful ones.

Scores are chosen against the engine's threshold (``REDACT_THRESHOLD`` in ``engine``, 0.5):
- a checksum-valid TCKN, IBAN, card or any e-mail address is redacted with no context at all (tables, forms
  without labels) — those are the identifiers that must never leak;
- numbers that are weaker evidence on their own (a 10-digit VKN passes its checksum one time in ten, an
  unprefixed phone number, a 9-digit SSN, a date) start below the threshold and need a context word nearby.
Context words are matched after Turkish-aware folding (``text.fold``) by word prefix, so ``vergi`` matches
``VERGİSİ`` and ``kimlik`` matches ``KİMLİĞİ``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from governance.pii import validators
from governance.pii.text import fold

# Placeholders written by redaction (``<TCKN_1>``, ``<PHONE_3fa9c2d1e0>``) must never look like a new finding.
_NOT_AFTER = r"(?<![\w.,+/-])"
_NOT_BEFORE = r"(?![\w/-]|[.,]\d)"


@dataclass(frozen=True)
class Candidate:
    name: str
    regex: str
    score: float
    flags: int = 0


class ValidatedRecognizer(PatternRecognizer):
    """A presidio PatternRecognizer with its own matching loop: validation decides, the pattern's score
    stands (presidio's loop would turn every validated match into score 1.0, leaving context no say), and
    ``shrink`` retries a failed match without its last space-separated group (an IBAN followed by a year)."""

    def __init__(
        self,
        *,
        entity: str,
        candidates: Iterable[Candidate],
        context: list[str],
        language: str,
        check: Callable[[str], bool] | None = None,
        shrink: bool = False,
        not_after: tuple[str, ...] = (),
    ) -> None:
        candidates = list(candidates)
        self._candidates = [(c.name, re.compile(c.regex, c.flags), c.score) for c in candidates]
        self._check = check
        self._shrink = shrink
        self._not_after = not_after
        self._name = f"{entity.title().replace('_', '')}Recognizer"
        super().__init__(
            supported_entity=entity,
            name=self._name,
            supported_language=language,
            # Kept for presidio's introspection (to_dict, explanations); matching happens in ``analyze``.
            patterns=[Pattern(name=c.name, regex=c.regex, score=c.score) for c in candidates],
            context=context,
        )

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for pattern_name, regex, score in self._candidates:
            for match in regex.finditer(text):
                start = match.start()
                end = self._validated_end(text, start, match.end())
                if end is None or (self._not_after and self._follows(text, start)):
                    continue
                results.append(
                    RecognizerResult(
                        entity_type=self.supported_entities[0],
                        start=start,
                        end=end,
                        score=score,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self._name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                            "pattern": pattern_name,
                        },
                    )
                )
        return results

    def _follows(self, text: str, start: int) -> bool:
        """Whether one of the ``not_after`` words stands right before the match ("Section 55.2.2.1")."""
        words = re.findall(r"[^\W\d_]+", fold(text[max(0, start - 30) : start]))[-2:]
        return any(word in self._not_after for word in words)

    def _validated_end(self, text: str, start: int, end: int) -> int | None:
        if self._check is None or self._check(text[start:end]):
            return end
        while self._shrink:
            cut = max(text.rfind(" ", start, end), text.rfind("-", start, end))
            if cut <= start:
                return None
            end = cut
            while end > start and text[end - 1] in " -":
                end -= 1
            if self._check(text[start:end]):
                return end
        return None


# --- validators on matched text --------------------------------------------------------------------------


def _tckn(text: str) -> bool:
    return validators.tckn_valid(validators.digits_only(text))


def _vkn(text: str) -> bool:
    return validators.vkn_valid(validators.digits_only(text))


_CARD_PREFIXES = ("2", "3", "4", "5", "6", "9792")  # Mastercard 2-series, Amex/Diners/JCB, Visa, MC, Troy


def _card(text: str) -> bool:
    digits = validators.digits_only(text)
    return digits.startswith(_CARD_PREFIXES) and validators.luhn_valid(digits)


def _phone_tr(text: str) -> bool:
    digits = validators.digits_only(text)
    for prefix in ("0090", "90", "0"):
        if len(digits) > 10 and digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    if len(digits) != 10 or len(set(digits[3:])) == 1:
        return False
    area = digits[:3]
    # 5xx is the mobile and personal range as a whole: no list of operator prefixes (they go stale with new
    # ranges and number porting — 51x, 52x, 57x are real), the shape decides. Geographic areas are 2xx–4xx.
    return area[0] in "2345" or area in {"850", "444"}


def _phone_intl(text: str) -> bool:
    digits = validators.digits_only(text)
    return 8 <= len(digits) <= 15 and not digits.startswith("90")  # +90 numbers are _phone_tr's


def _phone_us(text: str) -> bool:
    digits = validators.digits_only(text)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return len(digits) == 10 and digits[0] in "23456789" and digits[3] in "23456789"


def _ip(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    # 0.0.0.0 and loopback identify nobody; private addresses are findings: on an intranet they identify a
    # workstation, hence a person.
    return not (address.is_unspecified or address.is_loopback)


def _ssn(text: str) -> bool:
    digits = validators.digits_only(text)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


_MONTH_WORDS = (
    r"(?:Ocak|Şubat|Subat|Mart|Nisan|Mayıs|Mayis|Haziran|Temmuz|Ağustos|Agustos|Eylül|Eylul|Ekim|Kasım|Kasim"
    r"|Aralık|Aralik|January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
)


# --- context words (matched folded, by word prefix; several words = a phrase) -----------------------------

CONTEXT: dict[str, list[str]] = {
    "TCKN": [
        "tc", "t.c", "tckn", "kimlik", "nufus", "vatandas", "national id", "identity", "citizen",
        "id no", "id number", "turkish id",
    ],
    "VKN": ["vergi", "vkn", "vd", "v.d", "tax", "taxpayer", "tin", "mukellef"],
    "IBAN": ["iban", "hesap", "banka", "havale", "eft", "account", "bank", "transfer"],
    "CREDIT_CARD": ["kart", "kredi", "card", "credit", "visa", "mastercard", "troy", "amex", "pan"],
    "EMAIL": ["e-posta", "eposta", "posta", "email", "e-mail", "mail"],
    "PHONE": [
        "tel", "telefon", "gsm", "cep", "faks", "fax", "iletisim", "arayin", "phone", "mobile", "cell",
        "call", "contact", "numara", "number",
    ],
    "TR_PLATE": ["plaka", "arac", "ruhsat", "vehicle", "plate", "registration", "car"],
    "IP_ADDRESS": ["ip", "adres", "address", "host", "sunucu", "server", "istemci", "client", "login", "giris"],
    "US_SSN": ["ssn", "social security", "sosyal guvenlik"],
    "DATE_OF_BIRTH": [
        "dogum", "d.t", "dt", "dogdu", "dogumlu", "birth", "born", "dob", "d.o.b", "birthday", "yas",
    ],
}  # fmt: skip


# Dotted numbers after these words are section or version numbers, not IP addresses.
SECTION_WORDS = (
    "section", "sections", "chapter", "version", "release", "table", "figure", "example", "appendix", "step",
    "item", "bolum", "bolumu", "surum", "surumu", "versiyon", "madde", "maddesi", "tablo", "sekil", "ornek",
    "ek", "adim",
)  # fmt: skip


def build(language: str) -> list[PatternRecognizer]:
    """Every identifier recognizer, for one language (the rules are the same; presidio keys them by
    language)."""
    d = r"[ ./-]?"  # separators people put inside numbers

    def make(entity: str, candidates: list[Candidate], check: Callable[[str], bool] | None, **kw: Any):
        return ValidatedRecognizer(
            entity=entity,
            candidates=candidates,
            context=CONTEXT[entity],
            language=language,
            check=check,
            **kw,
        )

    return [
        make(
            "TCKN",
            [
                # Letters may be glued on ("TC10000000146", "No.10000000146"); other digits may not.
                Candidate("tckn", r"(?<!\d)(?<!\d[.,])[1-9]\d{10}(?!\d|[.,]\d)", 0.85),
                # Written in groups or boxes: "100 000 001 46", "1 0 0 0 0 0 0 0 1 4 6", "100-000-001-46".
                Candidate("tckn_grouped", r"(?<![\d.,])[1-9](?:[ .-]?\d){10}(?!\d|[.,]\d)", 0.6),
            ],
            _tckn,
        ),
        make("VKN", [Candidate("vkn", _NOT_AFTER + r"\d{10}" + _NOT_BEFORE, 0.5)], _vkn),
        make(
            "IBAN",
            [
                Candidate(
                    "iban",
                    r"(?<![A-Za-z0-9])[A-Z]{2} ?\d{2}(?:[ -]{0,2}[A-Z0-9]{4}){2,7}(?:[ -]{0,2}[A-Z0-9]{1,4})?"
                    r"(?![A-Za-z0-9])",
                    0.9,
                    re.IGNORECASE,
                )
            ],
            validators.iban_valid,
            shrink=True,
        ),
        make(
            "CREDIT_CARD",
            [Candidate("card", r"(?<![\w.,-])\d(?:[ -]{0,2}\d){12,18}(?![\w-]|[.,]\d)", 0.8)],
            _card,
            shrink=True,
        ),
        make(
            "EMAIL",
            [Candidate("email", r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", 0.9)],
            None,
        ),
        make(
            "PHONE",
            [
                Candidate(  # +90 / 0090 / 0 prefixed: 0532 123 45 67, +90 (212) 555-12-34, 05321234567
                    "tr_prefixed",
                    r"(?<![\w+])(?:(?:\+|00)?90"
                    + d
                    + r"|0"
                    + d
                    + r")\(?[2-58]\d{2}\)?"
                    + d
                    + r"\d{3}"
                    + d
                    + r"(?:\d{2}"
                    + d
                    + r"\d{2}|\d{4})(?!\w|[.,]\d)",
                    0.7,
                ),
                Candidate(  # (312) 669 80 99 — an area code in brackets is a phone number
                    "tr_bracketed",
                    r"(?<![\w+])\([2-58]\d{2}\) ?\d{3}[ .-]\d{2}[ .-]?\d{2}(?!\w|[.,]\d)",
                    0.6,
                ),
                Candidate(  # 532 123 45 67 — without prefix it needs a context word
                    "tr_bare",
                    r"(?<![\w+])\(?[2-58]\d{2}\)?[ .-]\d{3}[ .-]\d{2}[ .-]?\d{2}(?!\w|[.,]\d)",
                    0.4,
                ),
                Candidate(  # 5321234567 — a mobile number written without anything: needs a context word
                    "tr_bare_compact",
                    r"(?<![\w+])5\d{9}(?!\w|[.,]\d)",
                    0.35,
                ),
                Candidate(  # other countries, written with their +country code
                    "international",
                    r"(?<![\w+])\+(?:[1-8]\d{0,2}|9[1-9]\d?)(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w|[.,]\d)",
                    0.6,
                ),
                Candidate(  # (555) 123-4567, 555-123-4567 (area and exchange codes checked)
                    "us",
                    r"(?<![\w+])(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}(?!\w|[.,]\d)",
                    0.5,
                ),
            ],
            _phone_check,
        ),
        make(
            "TR_PLATE",
            [
                Candidate(
                    "plate", r"(?<![\w.,-])(?:0[1-9]|[1-7]\d|80|81) ?[A-PR-VYZ]{1,3} ?\d{2,4}(?![\w-])", 0.5
                )
            ],
            _plate,
        ),
        make(
            "IP_ADDRESS",
            [
                Candidate("ipv4", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)", 0.6),
                Candidate("ipv6", r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])", 0.6),
            ],
            _ip,
            not_after=SECTION_WORDS,
        ),
        make(
            "US_SSN",
            [
                Candidate("ssn", r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])", 0.6),
                Candidate("ssn_plain", _NOT_AFTER + r"\d{3} ?\d{2} ?\d{4}" + _NOT_BEFORE, 0.2),
            ],
            _ssn,
        ),
        make(
            "DATE_OF_BIRTH",
            [
                Candidate(
                    "numeric", _NOT_AFTER + r"\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d{2}" + _NOT_BEFORE, 0.15
                ),
                Candidate("iso", _NOT_AFTER + r"(?:19|20)\d{2}-\d{2}-\d{2}" + _NOT_BEFORE, 0.15),
                Candidate(
                    "words",
                    r"(?<!\w)(?:\d{1,2} "
                    + _MONTH_WORDS
                    + r",? (?:19|20)\d{2}|"
                    + _MONTH_WORDS
                    + r" \d{1,2},? (?:19|20)\d{2})(?!\w)",
                    0.15,
                    re.IGNORECASE,
                ),
            ],
            validators.date_valid,
        ),
    ]


def _phone_check(text: str) -> bool:
    stripped = text.strip()
    if stripped.startswith("+") and not stripped.startswith("+90"):
        return _phone_intl(stripped)
    return _phone_tr(stripped) or _phone_us(stripped)


# Unit abbreviations that make "16 KB 8192" look like a plate in technical text.
_UNITS = {
    "KB",
    "MB",
    "GB",
    "TB",
    "PB",
    "KM",
    "CM",
    "MM",
    "KG",
    "MG",
    "ML",
    "MS",
    "NS",
    "US",
    "HZ",
    "KHZ",
    "MHZ",
}


def _plate(text: str) -> bool:
    match = re.fullmatch(r"(\d{2}) ?([A-Z]{1,3}) ?(\d{2,4})", text)
    if match is None or match.group(2) in _UNITS or not validators.tr_plate_valid(text):
        return False
    letters, digits = len(match.group(2)), len(match.group(3))
    # The series rules: 1 letter → 4 digits, 2 letters → 3–4 digits, 3 letters → 2–3 digits.
    return {1: digits == 4, 2: digits in (3, 4), 3: digits in (2, 3)}[letters]
