"""Redaction policies and the redactor that applies them.

A policy says, per entity type, what happens to a finding:
- ``mask``: a typed placeholder numbered within the document — ``<TCKN_1>``, ``<PERSON_2>``; the same value is
  the same placeholder everywhere in that document (the default for every type: strict);
- ``hash``: a keyed pseudonym, ``<TCKN_3fa9c2d1e0b84a17>`` = HMAC(PII_HMAC_KEY, type + normalised value): the same
  person gets the same pseudonym in every document and in questions, so retrieval can still join on it;
- ``drop``: removed;
- ``keep``: left as written (a collection whose purpose needs the value, e.g. a contract register).

Every finding, whatever the action, is recorded as a subject key — HMAC(key, type + normalised value), never
the value — so data-subject requests can find the chunks that mention a person after redaction.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from governance.pii import engine
from governance.pii.text import fold, fold_name
from governance.pii.validators import date_valid, digits_only


class Action(StrEnum):
    KEEP = "keep"
    MASK = "mask"
    HASH = "hash"
    DROP = "drop"


# Entity types, in the order the policy editor shows them, with a label for people.
ENTITY_TYPES: dict[str, str | Promise] = {
    "TCKN": _("Turkish national ID (T.C. kimlik no)"),
    "VKN": _("Turkish tax number (VKN)"),
    "IBAN": _("IBAN (any country)"),
    "CREDIT_CARD": _("Payment card number"),
    "EMAIL": _("E-mail address"),
    "PHONE": _("Phone number"),
    "PERSON": _("Person's name"),
    "DATE_OF_BIRTH": _("Date of birth"),
    "TR_PLATE": _("Turkish licence plate"),
    "IP_ADDRESS": _("IP address"),
    "US_SSN": _("US social security number"),
}
DEFAULT_ACTION = Action.MASK


@dataclass(frozen=True)
class Policy:
    actions: Mapping[str, Action] = field(default_factory=dict)

    def action(self, entity_type: str) -> Action:
        return self.actions.get(entity_type, DEFAULT_ACTION)

    @classmethod
    def strict(cls) -> Policy:
        return cls()

    @classmethod
    def from_rules(cls, rules: Mapping[str, str]) -> Policy:
        """A policy from stored rules; raises ValueError on an unknown entity type or action."""
        actions: dict[str, Action] = {}
        for entity_type, action in rules.items():
            if entity_type not in ENTITY_TYPES:
                raise ValueError(f"Unknown entity type {entity_type!r}; known: {', '.join(ENTITY_TYPES)}.")
            try:
                actions[entity_type] = Action(action)
            except ValueError:
                raise ValueError(
                    f"Unknown action {action!r} for {entity_type}; one of: keep, mask, hash, drop."
                ) from None
        return cls(actions)

    def rules(self) -> dict[str, str]:
        return {entity_type: str(self.action(entity_type)) for entity_type in ENTITY_TYPES}

    def for_prompt(self) -> Policy:
        """For text already redacted at ingestion: what a second pass still finds is pseudonymised rather than
        masked, because mask numbers belong to the document and a new ``<TCKN_1>`` would collide."""
        return Policy(
            {t: Action.HASH if self.action(t) == Action.MASK else self.action(t) for t in ENTITY_TYPES}
        )

    @classmethod
    def for_question(cls, policies: list[Policy]) -> Policy:
        """A question crosses collections: a value stays only where every collection in scope keeps it;
        otherwise it is pseudonymised, which keeps it out of the prompt and still matches hashed chunks."""
        actions = {
            entity_type: (
                Action.KEEP
                if policies and all(p.action(entity_type) == Action.KEEP for p in policies)
                else Action.HASH
            )
            for entity_type in ENTITY_TYPES
        }
        return cls(actions)


def normalise(entity_type: str, value: str) -> str:
    """One spelling per identifier, so ``TR33 0006 …`` and ``tr330006…`` are the same subject."""
    if entity_type in {"TCKN", "VKN", "CREDIT_CARD", "US_SSN"}:
        return digits_only(value)
    if entity_type in {"IBAN", "TR_PLATE"}:
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    if entity_type == "EMAIL":
        return value.strip().casefold()
    if entity_type == "PHONE":
        digits = digits_only(value)
        if not value.strip().startswith("+") or value.strip().startswith("+90"):
            for prefix in ("0090", "90", "0"):  # Turkish numbers: the 10-digit national number
                if len(digits) > 10 and digits.startswith(prefix):
                    return digits[len(prefix) :]
        return digits
    if entity_type == "IP_ADDRESS":
        try:
            return ipaddress.ip_address(value.strip()).compressed
        except ValueError:
            return value.strip()
    if entity_type == "DATE_OF_BIRTH":
        iso = _iso_date(value)
        return iso or fold(value).strip()
    return fold_name(value)


def _iso_date(value: str) -> str | None:
    if not date_valid(value):
        return None
    numbers = [int(n) for n in re.findall(r"\d+", value)]
    if len(numbers) == 3:
        if numbers[0] > 31:
            year, month, day = numbers
        else:
            day, month, year = numbers
            if month > 12:
                day, month = month, day
        return f"{year:04d}-{month:02d}-{day:02d}"
    return None


def _mac(purpose: str, entity_type: str, value: str) -> str:
    message = f"{purpose}|{entity_type}|{normalise(entity_type, value)}".encode()
    return hmac.new(settings.PII_HMAC_KEY.encode(), message, hashlib.sha256).hexdigest()


def subject_key(entity_type: str, value: str) -> str:
    """The subject index key for a value: what a data-subject request looks up (64 hex characters)."""
    return _mac("subject", entity_type, value)


def pseudonym(entity_type: str, value: str) -> str:
    # 64 bits: no two people share a pseudonym in any realistic corpus (10^9 values: p ≈ 3·10^-2 of one pair).
    return _mac("pseudonym", entity_type, value)[:16]


# Placeholders and the redactor's internal markers: <TYPE_1>, <TYPE_3fa9c2d1e0>, <TYPE_k1>, <TYPE_d1>.
MARKER = re.compile(r"<([A-Z][A-Z_]*?)_([0-9a-z]{1,16})>")


@dataclass(frozen=True)
class Mention:
    entity_type: str
    subject: str  # subject_key(...)
    replacement: str  # what the marker becomes in the final text


@dataclass
class Redactor:
    """Redacts the texts of one document (or one question) under one policy.

    Mask numbers are shared by every text the redactor sees, so ``<PERSON_1>`` is one person throughout a
    document. ``redact(..., final=False)`` leaves markers for ``keep``/``drop`` findings too, so the caller
    can chunk first and still learn which chunk mentions whom (``finalize``).
    """

    policy: Policy
    language: str | None = None
    # False for previews shown to people: a pseudonym of a value someone typed would let them test guesses
    # against hashed chunks, so it is shown as <TYPE_pseudonym>.
    reveal_pseudonyms: bool = True
    mentions: dict[str, Mention] = field(default_factory=dict)
    _numbers: dict[tuple[str, str], str] = field(default_factory=dict)
    _counters: dict[str, int] = field(default_factory=dict)

    def redact(self, text: str, *, final: bool = True) -> str:
        if not final:
            # Text that already looks like one of our markers ("<TCKN_1>" in a re-uploaded export) is
            # defused, so ``finalize`` cannot mistake it for a marker of this document.
            text = MARKER.sub(lambda m: f"‹{m.group(0)[1:-1]}›", text)
        findings = engine.analyze(text, language=self.language)
        if not findings:
            return text
        # A second pass over redacted text must leave placeholders whole (a pseudonym's hex digits could
        # otherwise read as a number).
        placeholders = [m.span() for m in MARKER.finditer(text)]
        if placeholders:
            findings = [
                f for f in findings if not any(f.start < end and f.end > start for start, end in placeholders)
            ]
        parts: list[str] = []
        cursor = 0
        for finding in findings:
            parts.append(text[cursor : finding.start])
            marker = self._marker(finding.entity_type, text[finding.start : finding.end])
            parts.append(self.mentions[marker].replacement if final else marker)
            cursor = finding.end
        parts.append(text[cursor:])
        return "".join(parts)

    def redact_name(self, name: str) -> str:
        """A file name: ``cv_deniz.korkmaz@firma.com.tr.pdf``, ``Ayse-Kaya_10000000146.docx``. Separators
        glue identifiers to words, so the name is read three ways — as written, with ``_`` as a space (an
        e-mail address keeps its dots and hyphens) and with ``_ . -`` as spaces (names, numbers) — one
        character for one, so every reading's offsets are the name's. Overlapping findings are redacted as one
        span, and every value any reading found is recorded (``mentions``): ``cv_deniz.korkmaz@…`` and
        ``deniz.korkmaz@…`` both reach the subject index. The extension stays when it is one."""
        stem, suffix = split_extension(name)
        found: list[tuple[int, int, float, str, str]] = []  # start, end, score, type, value
        for reading in dict.fromkeys((stem, stem.replace("_", " "), re.sub(r"[_.\-]", " ", stem))):
            for finding in engine.analyze(reading, language=self.language):
                value = reading[finding.start : finding.end]
                self._marker(finding.entity_type, value)  # recorded, whichever finding names the span
                found.append((finding.start, finding.end, finding.score, finding.entity_type, value))
        if not found:
            return name
        spans: list[list[int]] = []
        for start, end, *_rest in sorted(found):
            if spans and start < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        parts, cursor = [], 0
        for start, end in spans:
            # The strongest (then longest) finding inside the span gives its placeholder.
            _s, _e, _score, entity_type, value = max(
                (f for f in found if start <= f[0] and f[1] <= end), key=lambda f: (f[2], f[1] - f[0])
            )
            parts.append(stem[cursor:start] + self.mentions[self._marker(entity_type, value)].replacement)
            cursor = end
        parts.append(stem[cursor:])
        return "".join(parts) + suffix

    def finalize(self, text: str) -> tuple[str, set[tuple[str, str]]]:
        """Markers → final text; also the (entity type, subject key) pairs the text mentions."""
        subjects: set[tuple[str, str]] = set()

        def replace(match: re.Match[str]) -> str:
            mention = self.mentions.get(match.group(0))
            if mention is None:  # a literal "<X_1>" in the source, not one of ours
                return match.group(0)
            subjects.add((mention.entity_type, mention.subject))
            return mention.replacement

        return MARKER.sub(replace, text), subjects

    def _marker(self, entity_type: str, value: str) -> str:
        key = (entity_type, normalise(entity_type, value))
        action = self.policy.action(entity_type)
        if action == Action.HASH:
            marker = f"<{entity_type}_{pseudonym(entity_type, value)}>"
            shown = marker if self.reveal_pseudonyms else f"<{entity_type}_pseudonym>"
            self.mentions.setdefault(marker, Mention(entity_type, subject_key(entity_type, value), shown))
            return marker
        number = self._numbers.get(key)
        if number is None:
            self._counters[entity_type] = self._counters.get(entity_type, 0) + 1
            number = str(self._counters[entity_type])
            self._numbers[key] = number
        if action == Action.MASK:
            marker = f"<{entity_type}_{number}>"
            replacement = marker
        else:
            # keep/drop: a per-value marker (a kept value may be spelt differently each time: keep each spelling)
            index = len(self.mentions) + 1
            marker = f"<{entity_type}_{'k' if action == Action.KEEP else 'd'}{index}>"
            replacement = value if action == Action.KEEP else ""
        self.mentions.setdefault(marker, Mention(entity_type, subject_key(entity_type, value), replacement))
        return marker


# Extensions of the files people upload: what follows the last dot is kept only when it is one of these (in
# ``deniz@firma.com`` the ``.com`` belongs to the address).
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_NOT_EXTENSIONS = {".com", ".net", ".org", ".tr", ".edu", ".gov", ".info", ".io", ".uk", ".de", ".eu"}


def split_extension(name: str) -> tuple[str, str]:
    """(stem, extension) of a file name; the extension is empty when the name has none that is a file type."""
    match = _EXTENSION.search(name)
    if match is None or match.group(0).lower() in _NOT_EXTENSIONS or match.start() == 0:
        return name, ""
    return name[: match.start()], match.group(0)


def redact_text(text: str, *, policy: Policy | None = None, language: str | None = None) -> str:
    """One-off redaction (log lines, audit details): the strict policy unless another is given."""
    return Redactor(policy=policy or Policy.strict(), language=language).redact(text)
