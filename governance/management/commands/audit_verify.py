"""Verify the audit trail: ``manage.py audit_verify`` (the database) or ``--file export.json|.csv`` (offline).

Exit code 0 when intact, 1 with the first broken row otherwise."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.audit import SYSTEM, Verification, audit_record, audit_verify, verify_export


def load_export(path: Path) -> dict[str, Any]:
    """A JSON export, or a CSV export whose first line is ``# manifest: {json}``."""
    with path.open(encoding="utf-8", newline="") as handle:  # keep \r and U+2028 inside fields as they are
        text = handle.read()
    if path.suffix.lower() != ".csv":
        return dict(json.loads(text))
    first, _, body = text.partition("\n")
    if not first.startswith("# manifest: "):
        raise CommandError("The CSV has no manifest line (# manifest: {...}).")
    events = []
    # newline="": the csv module handles line ends itself (str.splitlines would also split on U+2028 inside
    # a quoted field and change the row).
    for row in csv.DictReader(io.StringIO(body, newline="")):
        events.append(
            {
                **row,
                "seq": int(row["seq"]),
                "actor_user_id": int(row["actor_user_id"]) if row["actor_user_id"] else None,
                "actor_key_id": int(row["actor_key_id"]) if row["actor_key_id"] else None,
                "collection_id": int(row["collection_id"]) if row["collection_id"] else None,
                "details": json.loads(row["details"]),
            }
        )
    return {"manifest": json.loads(first.removeprefix("# manifest: ")), "events": events}


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain and check its newest signed checkpoint."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--file", type=Path, help="an exported JSON or CSV file to verify offline")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path | None = options["file"]
        result: Verification = verify_export(load_export(path)) if path else audit_verify()
        if not path:
            audit_record(
                action="audit.verify",
                actor=SYSTEM,
                outcome="ok" if result.ok else "failed",
                details={"rows": result.rows, "broken_seq": result.broken_seq, "via": "command"},
            )
        if result.ok:
            where = f" (checkpoint at row {result.checkpoint['seq']})" if result.checkpoint else ""
            self.stdout.write(f"OK: {result.rows} rows, chain ends at row {result.last_seq}{where}")
            for note in result.notes:
                self.stdout.write(f"note: {note}")
            return
        self.stdout.write(f"BROKEN at row {result.broken_seq}: {result.reason}")
        raise SystemExit(1)
