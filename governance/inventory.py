"""Records of processing (the VERBİS inventory, GDPR Art. 30): one entry per collection.

Every collection declares why it holds personal data, on which legal ground, about whom, what kinds, who
receives it, how long it is kept and whether special categories may be present. A collection without a
complete entry takes no uploads (``inventory_require``): nothing enters Emanet without a declared purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from governance.audit import Actor, audit_record
from governance.models import ProcessingRecord

LegalBasis = ProcessingRecord.LegalBasis

# KVKK Art. 5 ground → the GDPR Art. 6 ground it corresponds to (shown in exports for GDPR records).
GDPR_BASIS = {
    LegalBasis.EXPLICIT_CONSENT: "Art. 6(1)(a) consent",
    LegalBasis.REQUIRED_BY_LAW: "Art. 6(1)(c) legal obligation (expressly provided by law)",
    LegalBasis.VITAL_INTEREST: "Art. 6(1)(d) vital interests",
    LegalBasis.CONTRACT: "Art. 6(1)(b) contract",
    LegalBasis.LEGAL_OBLIGATION: "Art. 6(1)(c) legal obligation",
    LegalBasis.MADE_PUBLIC: "Art. 9(2)(e) made public by the data subject",
    LegalBasis.LEGAL_CLAIMS: "Art. 9(2)(f) legal claims",
    LegalBasis.LEGITIMATE_INTEREST: "Art. 6(1)(f) legitimate interests",
}

LIST_FIELDS = ("data_subject_categories", "data_categories", "recipients")
FIELDS = (
    "purpose",
    "legal_basis",
    "data_subject_categories",
    "data_categories",
    "recipients",
    "retention_days",
    "special_categories",
    "erasure_scope",
)
REQUIRED = ("purpose", "legal_basis", *LIST_FIELDS, "retention_days")
LABELS = {
    "purpose": _("purpose"),
    "legal_basis": _("legal basis"),
    "data_subject_categories": _("data-subject categories"),
    "data_categories": _("personal-data categories"),
    "recipients": _("recipients"),
    "retention_days": _("retention period"),
}
MAX_RETENTION_DAYS = 36500


class InventoryError(ValueError):
    """The entry is invalid; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class InventoryIncomplete(Exception):
    """Uploading into a collection whose processing record is missing or incomplete."""


@dataclass(frozen=True)
class Entry:
    purpose: str = ""
    legal_basis: str = ""
    data_subject_categories: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    retention_days: int | None = None
    special_categories: bool = False
    erasure_scope: str = ProcessingRecord.ErasureScope.CHUNKS


def entry_of(record: ProcessingRecord | None) -> Entry:
    if record is None:
        return Entry()
    return Entry(
        purpose=record.purpose,
        legal_basis=record.legal_basis,
        data_subject_categories=tuple(record.data_subject_categories or ()),
        data_categories=tuple(record.data_categories or ()),
        recipients=tuple(record.recipients or ()),
        retention_days=record.retention_days,
        special_categories=record.special_categories,
        erasure_scope=record.erasure_scope,
    )


def inventory_missing(entry: Entry) -> list[str]:
    """The required fields the entry lacks (empty: complete)."""
    return [name for name in REQUIRED if not getattr(entry, name)]


def inventory_entry(collection_id: int) -> Entry:
    return entry_of(ProcessingRecord.objects.filter(collection_id=collection_id).first())


def inventory_require(collection: Any) -> None:
    """Raise InventoryIncomplete, with a message an uploader can act on, unless the entry is complete."""
    missing = inventory_missing(inventory_entry(collection.pk))
    if missing:
        names = ", ".join(str(LABELS[name]) for name in missing)
        raise InventoryIncomplete(
            _(
                "Collection “%(name)s” has no complete entry in the records of processing (missing: %(missing)s), "
                "so it takes no uploads. Its owner or a compliance officer completes it on the collection's "
                "processing page (/collections/%(id)s/processing/) or with PUT /api/v1/collections/%(id)s/inventory."
            )
            % {"name": collection.name, "missing": names, "id": collection.pk}
        )


def _clean_list(value: Any, field: str, errors: dict[str, str]) -> tuple[str, ...]:
    if isinstance(value, str):  # "patients, staff" from a form or a CSV cell
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        errors[field] = "a list of short texts"
        return ()
    items = tuple(dict.fromkeys(item.strip() for item in value if item.strip()))
    if any(len(item) > 200 for item in items) or len(items) > 50:
        errors[field] = "at most 50 entries of at most 200 characters"
    return items


def inventory_clean(data: dict[str, Any], *, base: Entry | None = None) -> Entry:
    """Validate a (partial) entry over ``base``; raises InventoryError naming each bad field."""
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        errors["unknown"] = f"unknown field(s): {', '.join(unknown)}"
    values = dict(vars(base or Entry()))
    if "purpose" in data:
        purpose = data["purpose"]
        if not isinstance(purpose, str) or len(purpose) > 2000:
            errors["purpose"] = "a text of at most 2000 characters"
        else:
            values["purpose"] = purpose.strip()
    if "legal_basis" in data:
        if data["legal_basis"] not in (*LegalBasis.values, ""):
            errors["legal_basis"] = f"one of: {', '.join(LegalBasis.values)}"
        else:
            values["legal_basis"] = data["legal_basis"]
    for name in LIST_FIELDS:
        if name in data:
            values[name] = _clean_list(data[name], name, errors)
    if "retention_days" in data:
        days = data["retention_days"]
        if isinstance(days, str) and days.strip().isdecimal():
            days = int(days)
        if days in (None, ""):
            values["retention_days"] = None
        elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
            errors["retention_days"] = f"a whole number of days from 1 to {MAX_RETENTION_DAYS}"
        else:
            values["retention_days"] = days
    if "special_categories" in data:
        if not isinstance(data["special_categories"], bool):
            errors["special_categories"] = "true or false"
        else:
            values["special_categories"] = data["special_categories"]
    if "erasure_scope" in data:
        if data["erasure_scope"] not in ProcessingRecord.ErasureScope.values:
            errors["erasure_scope"] = f"one of: {', '.join(ProcessingRecord.ErasureScope.values)}"
        else:
            values["erasure_scope"] = data["erasure_scope"]
    if errors:
        raise InventoryError(errors)
    return Entry(**values)


def inventory_set(*, collection_id: int, data: dict[str, Any], actor: Actor, user: Any) -> Entry:
    """Create or update a collection's entry (fields not given keep their value); audited with the fields
    changed. Shortening the retention period takes effect on the next retention run."""
    with transaction.atomic():
        record = ProcessingRecord.objects.select_for_update().filter(collection_id=collection_id).first()
        before = entry_of(record)
        entry = inventory_clean(data, base=before)
        if record is None:
            record = ProcessingRecord(collection_id=collection_id)
        for name in FIELDS:
            value = getattr(entry, name)
            setattr(record, name, list(value) if name in LIST_FIELDS else value)
        record.updated_by = user if getattr(user, "is_authenticated", False) else None
        record.save()
        changed = sorted(name for name in FIELDS if getattr(entry, name) != getattr(before, name))
        audit_record(
            action="inventory.set",
            actor=actor,
            target_type="collection",
            target_id=collection_id,
            collection_id=collection_id,
            details={
                "changed": changed,
                "legal_basis": entry.legal_basis,
                "retention_days": entry.retention_days,
                "special_categories": entry.special_categories,
                "complete": not inventory_missing(entry),
            },
        )
    return entry


def inventory_data(entry: Entry) -> dict[str, Any]:
    """The API shape of an entry, with whether it is complete and what is missing."""
    data: dict[str, Any] = {name: getattr(entry, name) for name in FIELDS}
    for name in LIST_FIELDS:
        data[name] = list(data[name])
    data["gdpr_basis"] = GDPR_BASIS.get(entry.legal_basis, "")  # type: ignore[call-overload]
    data["missing"] = inventory_missing(entry)
    data["complete"] = not data["missing"]
    return data
