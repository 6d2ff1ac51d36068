"""Bulk ingestion: ``python manage.py ingest PATH... --collection NAME [--user USERNAME]``.

Walks folders, queues every file through the same service the API uses, shows progress until each document
is ready or failed, then prints a summary with every failure's reason.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.celery import app as celery_app
from governance.inventory import InventoryError, InventoryIncomplete, inventory_clean, inventory_require
from rag import selectors, storage
from rag.language import normalise_language
from rag.models import Document
from rag.selectors import can_write
from rag.services.collections import collection_create
from rag.services.documents import document_create

SKIP_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


class Command(BaseCommand):
    help = "Queue files and folders for ingestion into a collection and wait until they are processed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--collection", required=True, help="Collection id or name")
        parser.add_argument("--user", help="Acting user (default: the first superuser)")
        parser.add_argument(
            "--create", action="store_true", help="Create the collection if it does not exist"
        )
        parser.add_argument(
            "--inventory",
            type=Path,
            help="JSON file with the new collection's records-of-processing entry (purpose, legal_basis, "
            "data_subject_categories, data_categories, recipients, retention_days, special_categories); "
            "a collection without a complete entry takes no uploads",
        )
        parser.add_argument(
            "--language", default="", help="ISO 639-1 code for all files; detected if omitted"
        )
        parser.add_argument("--no-wait", action="store_true", help="Queue and exit without waiting")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for processing")

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options["user"])
        language = normalise_language(options["language"]) if options["language"] else ""
        try:
            collection = selectors.collection_get(user=user, ref=options["collection"])
        except selectors.NotFound as exc:
            if not options["create"]:
                raise CommandError(f"{exc} Use --create to create it.") from exc
            collection = collection_create(
                name=options["collection"], owner=user, inventory=self._inventory(options["inventory"])
            )
        if not can_write(user, collection):
            raise CommandError(f"{user} may not add documents to {collection.name!r}.")
        try:
            inventory_require(collection)
        except InventoryIncomplete as exc:
            raise CommandError(f"{exc} (or pass --inventory FILE.json with --create)") from exc

        files = sorted(self._walk(options["paths"]))
        if not files:
            raise CommandError("No files found.")
        ids: dict[int, Path] = {}
        refused: list[tuple[Path, str]] = []
        duplicates = 0
        for path in tqdm(files, desc="queueing", unit="file", disable=options["verbosity"] == 0):
            try:
                with path.open("rb") as stream:
                    document, created = document_create(
                        collection=collection,
                        uploaded_by=user,
                        stream=stream,
                        filename=path.name,
                        language=language,
                    )
            except storage.UploadTooLarge as exc:
                refused.append((path, str(exc)))
                continue
            except OSError as exc:
                refused.append((path, f"cannot read: {exc.strerror}"))
                continue
            duplicates += 0 if created else 1
            ids[document.pk] = path
        self.stdout.write(
            f"Queued {len(ids)} file(s) into {collection.name!r} ({duplicates} already present)."
        )
        if options["no_wait"]:
            return
        if not (celery_app.control.ping(timeout=2.0) or []):
            self.stderr.write(
                "No Celery worker answers: start one (manage.py serve, or celery -A config worker)."
            )
        self._wait(ids, refused, options["timeout"], options["verbosity"])

    def _inventory(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"--inventory: cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise CommandError("--inventory: the file must hold one JSON object.")
        try:
            inventory_clean(data)
        except InventoryError as exc:
            raise CommandError(f"--inventory: {exc}") from exc
        return data

    def _user(self, username: str | None) -> Any:
        users = get_user_model().objects
        if username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}.")
            return user
        user = users.filter(is_superuser=True).order_by("pk").first()
        if user is None:
            raise CommandError("No superuser exists; pass --user.")
        return user

    def _walk(self, paths: list[Path]) -> list[Path]:
        found: list[Path] = []
        for path in paths:
            if not path.exists():
                raise CommandError(f"{path} does not exist.")
            candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            found.extend(
                p
                for p in candidates
                if p.name not in SKIP_NAMES
                and not any(part.startswith(".") for part in p.relative_to(path.parent).parts)
            )
        return found

    def _wait(
        self, ids: dict[int, Path], refused: list[tuple[Path, str]], timeout: float, verbosity: int
    ) -> None:
        done_states = {Document.Status.READY, Document.Status.FAILED}
        deadline = time.monotonic() + timeout
        finished: dict[int, Document] = {}
        with tqdm(total=len(ids), desc="processing", unit="doc", disable=verbosity == 0) as bar:
            while len(finished) < len(ids) and time.monotonic() < deadline:
                pending = [pk for pk in ids if pk not in finished]
                for document in Document.objects.filter(pk__in=pending, status__in=done_states):
                    finished[document.pk] = document
                    bar.update(1)
                missing = set(pending) - set(
                    Document.objects.filter(pk__in=pending).values_list("pk", flat=True)
                )
                for pk in missing:
                    finished[pk] = Document(
                        pk=pk, status=Document.Status.FAILED, error="deleted while processing"
                    )
                    bar.update(1)
                if len(finished) < len(ids):
                    time.sleep(0.5)
        ready = [d for d in finished.values() if d.status == Document.Status.READY]
        failed = [d for d in finished.values() if d.status == Document.Status.FAILED]
        waiting = [pk for pk in ids if pk not in finished]
        chunks = sum(d.chunk_count for d in ready)
        self.stdout.write(
            f"Ready: {len(ready)} ({chunks} chunks)  Failed: {len(failed) + len(refused)}  "
            f"Still processing: {len(waiting)}"
        )
        for document in failed:
            self.stdout.write(f"  FAILED {ids[document.pk]}: {document.error}")
        for path, reason in refused:
            self.stdout.write(f"  FAILED {path}: {reason}")
        if waiting:
            raise CommandError(f"{len(waiting)} document(s) were still processing after {timeout:.0f} s.")
        if failed or refused:
            raise SystemExit(1)
