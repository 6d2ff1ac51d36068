"""Document use cases that the API, the portal and the CLI share: create (and queue), delete."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, BinaryIO

from django.db import IntegrityError, transaction

from rag import storage
from rag.models import Chunk, Collection, Document
from rag.parsing.formats import title_from_filename

logger = logging.getLogger(__name__)


def _queue_ingest(document_id: int) -> None:
    from rag.tasks import ingest_document

    ingest_document.delay(document_id)


def document_create(
    *,
    collection: Collection,
    uploaded_by: Any,
    stream: BinaryIO,
    filename: str,
    title: str = "",
    language: str = "",
) -> tuple[Document, bool]:
    """Store the upload and queue its ingestion. Returns (document, created).

    The same bytes already live (queued, processing or ready) in this collection → that document is
    returned and nothing is stored or queued twice. Raises storage.UploadTooLarge.
    """
    filename = Path(filename or "upload").name[:500]
    stored = storage.store(stream, suffix=Path(filename).suffix)
    existing = _live_duplicate(collection, stored.sha256)
    if existing is not None:
        storage.delete(stored.relative_path)
        return existing, False
    try:
        with transaction.atomic():
            document = Document.objects.create(
                collection=collection,
                title=(title.strip() or title_from_filename(filename))[:500],
                original_filename=filename,
                mime_type="application/octet-stream",  # decided from the content by the ingest step
                sha256=stored.sha256,
                size_bytes=stored.size,
                file_path=stored.relative_path,
                language=language,
                uploaded_by=uploaded_by,
            )
            document_id = document.pk
            transaction.on_commit(lambda: _queue_ingest(document_id))
    except IntegrityError:
        # Lost a race with an identical upload: keep theirs.
        storage.delete(stored.relative_path)
        existing = _live_duplicate(collection, stored.sha256)
        if existing is None:
            raise
        return existing, False
    return document, True


def _live_duplicate(collection: Collection, sha256: str) -> Document | None:
    return (
        Document.objects.filter(collection=collection, sha256=sha256)
        .exclude(status=Document.Status.FAILED)
        .first()
    )


def document_delete(*, document: Document) -> None:
    """Delete the document, its chunks and vectors in one transaction; the stored file after commit."""
    file_path = document.file_path
    with transaction.atomic():
        # Lock first: an ingest finishing right now waits, then finds the row gone and discards its work.
        Document.objects.select_for_update().filter(pk=document.pk).first()
        Chunk.objects.filter(document_id=document.pk).delete()
        Document.objects.filter(pk=document.pk).delete()
        transaction.on_commit(lambda: storage.delete(file_path))
    logger.info("document %s deleted", document.pk)
