"""Re-embed collections with the configured embedding model (``EMBEDDING_MODEL``), or show how far it is.

``python manage.py reembed --status`` lists each collection's model and how many of its chunks have a vector of
the configured model. Without ``--status`` it re-embeds every collection that is not complete, switching each
when done (audited), as the background job does; search goes on with the old vectors meanwhile. Safe to stop
and to run again, also while the background job runs (one process per collection at a time).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inference import embeddings
from rag.selectors.vectors import embedding_progress
from rag.services.vectors import collection_reembed, collections_to_reembed


class Command(BaseCommand):
    help = "Re-embed collections with the configured embedding model, or show the progress (--status)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--status", action="store_true", help="only show the progress")
        parser.add_argument("--budget", type=float, default=None, help="stop after this many seconds")

    def _status(self) -> None:
        target = embeddings.active_key()
        self.stdout.write(f"configured model: {target}")
        for row in embedding_progress(target):
            state = (
                "searches with " + (row.model or "-")
                if row.complete and row.model in (target, "")
                else (f"re-embedding {row.done}/{row.chunks}, searches with {row.model}")
            )
            self.stdout.write(
                f"  {row.collection_id:>5}  {row.name[:40]:<40}  {row.chunks:>8} chunks  {state}"
            )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            self._status()
            return
        deadline = time.monotonic() + options["budget"] if options["budget"] else None
        for collection_id in collections_to_reembed():
            started = time.monotonic()
            switched = collection_reembed(collection_id=collection_id, deadline=deadline)
            verdict = "switched" if switched else "not finished (stopped, or another process holds it)"
            self.stdout.write(f"collection {collection_id}: {verdict} in {time.monotonic() - started:.0f} s")
            if deadline is not None and time.monotonic() > deadline:
                break
        self._status()
