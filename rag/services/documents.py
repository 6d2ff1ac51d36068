"""Document use cases that the API, the portal and the CLI share: create and queue, re-queue. Deleting is
rag.services.deletion."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from governance.audit import SYSTEM, Actor, audit_record
from governance.inventory import inventory_require
from governance.models import SubjectMention
from governance.pii.policies import policy_for_collection
from governance.pii.redaction import MARKER, Redactor, split_extension
from governance.special import special_categories_in
from rag import storage
from rag.models import Chunk, Collection, Document

logger = logging.getLogger(__name__)

INGEST_TASK = "rag.tasks.ingest_document"


def _queue_ingest(document_id: int) -> bool:
    """Send the ingest task. A broker outage must not lose the upload: the document stays ``queued`` in the
    database and ``documents_requeue_stale`` sends it again once the broker is back."""
    try:
        # By name: the task module (an adapter) imports this service, never the other way round.
        current_app.send_task(INGEST_TASK, args=[document_id])
    except BrokerUnavailable:
        logger.warning("broker unreachable; document %s stays queued until the stale sweep", document_id)
        return False
    return True


def documents_requeue_stale(*, queued_for_s: int = 600) -> int:
    """Send again the documents whose task may have been lost; returns how many were sent.

    - ``queued`` for longer than ``queued_for_s``: the message never reached the broker, or the broker lost it.
    - ``processing`` with a lease older than the ingest time limit: its worker died and retries ran out.
    Sending twice is harmless: ``document_claim`` lets only one run work and a ready document is skipped.
    """
    now = timezone.now()
    queued = Document.objects.filter(
        status=Document.Status.QUEUED, updated_at__lt=now - timedelta(seconds=queued_for_s)
    )
    stuck = Document.objects.filter(
        status=Document.Status.PROCESSING,
        processing_started_at__lt=now - timedelta(seconds=settings.INGEST_TIME_LIMIT_S + 60),
    )
    ids = list(queued.values_list("pk", flat=True)) + list(stuck.values_list("pk", flat=True))
    sent = 0
    for document_id in ids:
        # Touch updated_at so the next sweep waits again instead of flooding the queue.
        Document.objects.filter(pk=document_id).update(updated_at=now)
        sent += _queue_ingest(document_id)
    if ids:
        logger.info("stale sweep: re-sent %d of %d document(s)", sent, len(ids))
    return sent


def collection_reingest(*, collection_id: int) -> int:
    """Queue every document of a collection for ingestion again (its redaction policy changed). A run in
    progress finds its document re-queued when it stores and discards its chunks (see ``_ingest_claimed``).
    Documents whose file is gone cannot be redone and keep their chunks. Returns how many were queued."""
    documents = Document.objects.filter(collection_id=collection_id).exclude(file_path="")
    ids = list(documents.values_list("pk", flat=True))
    documents.update(status=Document.Status.QUEUED, task_id="", updated_at=timezone.now())
    for document_id in ids:
        transaction.on_commit(partial(_queue_ingest, document_id))
    return len(ids)


def document_create(
    *,
    collection: Collection,
    uploaded_by: Any,
    stream: BinaryIO,
    filename: str,
    title: str = "",
    language: str = "",
    special_declared: bool = False,
    actor: Actor = SYSTEM,
) -> tuple[Document, bool]:
    """Store the upload and queue its ingestion. Returns (document, created).

    The same bytes already live (queued, processing or ready) in this collection → that document is
    returned and nothing is stored or queued twice. Raises storage.UploadTooLarge, and InventoryIncomplete
    when the collection has no complete records-of-processing entry (nothing is stored then).
    ``special_declared``: the uploader says the file holds special-category data; every chunk is flagged.
    """
    inventory_require(collection)
    # File names carry personal data too ("cv_deniz.korkmaz@firma.com.tr.pdf", "Ayşe_Kaya_10000000146.pdf"):
    # the name and the title are redacted under the collection's policy before they are stored, listed or
    # logged (the raw name lives only in this frame); the extension stays. What the name and title mention
    # goes to the subject index, so access and erasure requests find the document by them.
    redactor = Redactor(policy=policy_for_collection(collection.pk), language=language or None)
    filename = redactor.redact_name(Path(filename or "upload").name)[:500]
    title = redactor.redact(title.strip()) if title.strip() else default_title(filename)
    named = sorted({(m.entity_type, m.subject) for m in redactor.mentions.values()})
    suffix = split_extension(filename)[1]
    stored = storage.store(stream, suffix=suffix)
    existing = _live_duplicate(collection, stored.sha256)
    if existing is not None:
        storage.delete(stored.relative_path)
        if special_declared and not existing.special_declared:
            # The same file again, now declared special: the existing document takes the declaration.
            _declare_special(existing, actor=actor)
        return existing, False
    try:
        with transaction.atomic():
            document = Document.objects.create(
                collection=collection,
                title=title[:500],
                original_filename=filename,
                mime_type="application/octet-stream",  # decided from the content by the ingest step
                sha256=stored.sha256,
                size_bytes=stored.size,
                file_path=stored.relative_path,
                file_key=stored.wrapped_key,
                file_key_id=stored.key_id,
                language=language,
                special_declared=special_declared,
                special_title=bool(special_categories_in(f"{title}\n{filename}")),
                uploaded_by=uploaded_by,
            )
            document_id = document.pk
            SubjectMention.objects.bulk_create(
                SubjectMention(
                    subject=subject,
                    entity_type=entity_type,
                    chunk=None,
                    document_id=document_id,
                    collection_id=collection.pk,
                )
                for entity_type, subject in named
            )
            audit_record(
                action="document.upload",
                actor=actor,
                target_type="document",
                target_id=document_id,
                collection_id=collection.pk,
                details={
                    "size_bytes": stored.size,
                    "sha256": stored.sha256,
                    "special_declared": special_declared,
                },
            )
            transaction.on_commit(lambda: _queue_ingest(document_id))
    except IntegrityError:
        # Lost a race with an identical upload: keep theirs.
        storage.delete(stored.relative_path)
        existing = _live_duplicate(collection, stored.sha256)
        if existing is None:
            raise
        return existing, False
    return document, True


def default_title(filename: str) -> str:
    """The title of a document uploaded without one: its (redacted) file name as words; placeholders such as
    ``<EMAIL_1>`` stay whole."""
    stem = split_extension(filename)[0]
    parts, cursor = [], 0
    for match in MARKER.finditer(stem):
        parts += [stem[cursor : match.start()].replace("_", " ").replace("-", " "), match.group(0)]
        cursor = match.end()
    parts.append(stem[cursor:].replace("_", " ").replace("-", " "))
    words = "".join(parts)
    return words.strip() or filename


def _declare_special(document: Document, *, actor: Actor) -> None:
    """Flag every passage of an existing document as the ingestion would have (a passage without a detected
    category becomes "declared"); a run in progress reads the flag when it stores its passages."""
    with transaction.atomic():
        Document.objects.filter(pk=document.pk).update(special_declared=True, updated_at=timezone.now())
        Chunk.objects.filter(document_id=document.pk, special_categories=[]).update(
            special_categories=["declared"]
        )
        audit_record(
            action="document.declare_special",
            actor=actor,
            target_type="document",
            target_id=document.pk,
            collection_id=document.collection_id,
        )
    document.refresh_from_db()


def _live_duplicate(collection: Collection, sha256: str) -> Document | None:
    return (
        Document.objects.filter(collection=collection, sha256=sha256)
        .exclude(status=Document.Status.FAILED)
        .first()
    )
