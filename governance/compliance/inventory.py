"""The inventory export: every collection's records-of-processing entry, for the API, the page and the
command (the entries themselves are governance.inventory)."""

from __future__ import annotations

import csv
import io
from typing import Any

from governance.inventory import entry_of, inventory_data
from governance.models import ProcessingRecord
from rag.selectors.lifecycle import collections_all


def inventory_rows() -> list[dict[str, Any]]:
    """Every collection with its entry (empty fields where none is recorded), for the inventory export."""
    records = {r.collection_id: r for r in ProcessingRecord.objects.all()}
    rows = []
    for collection in collections_all():
        entry = entry_of(records.get(collection.pk))
        record = records.get(collection.pk)
        rows.append(
            {
                "collection_id": collection.pk,
                "collection": collection.name,
                "owner": collection.owner.get_username(),
                **inventory_data(entry),
                "updated_at": record.updated_at.isoformat() if record else None,
            }
        )
    return rows


CSV_COLUMNS = (
    "collection_id", "collection", "owner", "purpose", "legal_basis", "gdpr_basis", "data_subject_categories",
    "data_categories", "recipients", "retention_days", "special_categories", "erasure_scope", "complete",
    "missing", "updated_at",
)  # fmt: skip


def inventory_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [_cell("; ".join(row[c]) if isinstance(row[c], list) else row[c]) for c in CSV_COLUMNS]
        )
    return out.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
