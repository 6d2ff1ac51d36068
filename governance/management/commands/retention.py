"""``manage.py retention [--dry-run] [--at ISO-DATE]``: destroy documents past their collection's retention
period (what the Celery beat job does on its schedule), or list what would be destroyed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from governance.compliance.retention import retention_run


class Command(BaseCommand):
    help = "Destroy expired documents (retention periods of the records of processing); --dry-run lists them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be destroyed; change nothing"
        )
        parser.add_argument(
            "--at", help="Evaluate expiry at this moment (ISO 8601) instead of now; with --dry-run"
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["at"]:
            if not options["dry_run"]:
                raise CommandError("--at only with --dry-run: destruction always runs at the present time.")
            try:
                now = datetime.fromisoformat(options["at"])
            except ValueError as exc:
                raise CommandError(f"--at: {exc}") from exc
            if timezone.is_naive(now):
                now = timezone.make_aware(now)
        run = retention_run(now=now, dry_run=options["dry_run"])
        if run.already_running:
            raise CommandError("A retention run is already in progress.")
        if options["json"]:
            self.stdout.write(
                json.dumps({"run_id": run.run_id, "dry_run": run.dry_run, "documents": run.documents})
            )
            return
        verb = "would destroy" if run.dry_run else "destroyed"
        for document in run.documents:
            self.stdout.write(
                f"  document {document['document_id']} (collection {document['collection_id']}), "
                f"expired {document['expired_at'][:10]}, {document['chunks']} passage(s)"
            )
        self.stdout.write(
            f"Retention run {run.run_id}: {verb} {len(run.documents)} document(s), {run.chunks} passage(s), "
            f"{run.conversations} conversation(s)."
        )
