"""Retention and periodic destruction (KVKK by-law on erasure, destruction and anonymisation; GDPR Art. 5(1)(e)).

Each collection's records-of-processing entry sets how many days a document is kept after its upload. A
Celery beat job (``RETENTION_RUN_EVERY_S``, at most six months as the by-law requires; daily by default) and
``manage.py retention`` destroy every expired document with its chunks, vectors, subject-index rows, stored
file and the citation snippets that copied it, and write one ``DestructionRecord`` per document (kept for
``DESTRUCTION_RECORD_KEEP_DAYS``, at least three years; a trigger refuses earlier deletion) plus one audit
event per run. ``retention_preview`` is the dry run: what the next run would destroy.

Conversations (questions, answers, citation snippets) are kept ``CONVERSATION_RETENTION_DAYS`` after their
last activity (0: kept until their owner or an erasure deletes them) and destroyed by the same run.

Safe to run twice at once: a run takes a session advisory lock (a second one returns at once), and each
document is destroyed in its own transaction under a row lock taken with SKIP LOCKED. Running it again
finds nothing left to do.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Func, QuerySet
from django.utils import timezone

from governance.audit import SYSTEM, Actor, audit_record
from governance.models import DestructionRecord

logger = logging.getLogger(__name__)

_RUN_LOCK = 0x456D616E6574 + 1  # one retention run at a time across processes
DESTROYED_TITLE = "[destroyed]"


@dataclass
class RetentionRun:
    run_id: str
    dry_run: bool
    already_running: bool = False
    documents: list[dict[str, Any]] = field(default_factory=list)
    skipped_locked: int = 0
    conversations: int = (
        0  # conversations past CONVERSATION_RETENTION_DAYS (deleted, or to delete in a dry run)
    )

    @property
    def chunks(self) -> int:
        return sum(d["chunks"] for d in self.documents)


def _expired(now: datetime) -> QuerySet[Any]:
    from rag.models import Document

    expires = ExpressionWrapper(
        F("created_at")
        + Func(
            F("collection__processing__retention_days"), template="make_interval(days => %(expressions)s)"
        ),
        output_field=DateTimeField(),
    )
    return (
        Document.objects.filter(collection__processing__retention_days__isnull=False)
        .annotate(expires_at=expires)
        .filter(expires_at__lte=now)
        .order_by("expires_at", "pk")
    )


def _expired_conversations(now: datetime) -> QuerySet[Any]:
    from rag.models import Conversation

    days = settings.CONVERSATION_RETENTION_DAYS
    if not days:
        return Conversation.objects.none()
    return Conversation.objects.filter(updated_at__lte=now - timedelta(days=days))


def collections_without_retention() -> list[dict[str, Any]]:
    """Collections holding documents but no retention period (no complete entry): never destroyed by a run."""
    from django.db.models import Count

    from rag.models import Collection

    rows = (
        Collection.objects.filter(documents__isnull=False)
        .exclude(processing__retention_days__isnull=False)
        .annotate(documents_held=Count("documents"))
        .order_by("name")
    )
    return [{"collection_id": c.pk, "collection": c.name, "documents": c.documents_held} for c in rows]


def retention_preview(*, now: datetime | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """The dry run: the documents the next run will destroy (at ``now``, default: the present)."""
    rows = _expired(now or timezone.now()).select_related("collection")[:limit]
    return [_describe(document) for document in rows]


def _describe(document: Any) -> dict[str, Any]:
    return {
        "document_id": document.pk,
        "collection_id": document.collection_id,
        "collection": document.collection.name,
        "title": document.title,
        "status": document.status,
        "uploaded_at": document.created_at.isoformat(),
        "expired_at": document.expires_at.isoformat(),
        "chunks": document.chunk_count,
    }


def retention_run(
    *, now: datetime | None = None, actor: Actor = SYSTEM, dry_run: bool = False
) -> RetentionRun:
    now = now or timezone.now()
    run = RetentionRun(run_id=str(uuid.uuid4()), dry_run=dry_run)
    if dry_run:
        run.documents = retention_preview(now=now)
        run.conversations = _expired_conversations(now).count()
        return run
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_RUN_LOCK])
        if not cursor.fetchone()[0]:
            run.already_running = True
            return run
    try:
        for document_id in list(_expired(now).values_list("pk", flat=True)):
            with transaction.atomic():
                document = (
                    _expired(now)
                    .select_for_update(skip_locked=True, of=("self",))
                    .filter(pk=document_id)
                    .first()
                )
                if document is None:  # destroyed meanwhile, or locked by someone deleting it right now
                    run.skipped_locked += 1
                    continue
                described = {**_describe_plain(document), "chunks": 0}
                record = document_destroy(
                    document=document,
                    reason=DestructionRecord.Reason.RETENTION,
                    run_id=run.run_id,
                    destroyed_by=actor.user_id,
                    expired_at=document.expires_at,
                )
                described["chunks"] = record.chunks
                # Evidence per document, in the same transaction as its destruction: a run cut short midway
                # still leaves an audit event for each document it destroyed.
                audit_record(
                    action="retention.destroy",
                    actor=actor,
                    target_type="document",
                    target_id=document.pk,
                    collection_id=document.collection_id,
                    details={"run_id": run.run_id, "chunks": record.chunks, "sha256": document.sha256},
                )
                run.documents.append(described)
        with transaction.atomic():
            # Questions, answers and the passages their citations copied: kept as long as the conversation is
            # used, then destroyed like documents (CONVERSATION_RETENTION_DAYS after its last activity).
            expired = _expired_conversations(now)
            run.conversations = expired.count()
            expired.delete()
            if run.documents or run.conversations:
                audit_record(
                    action="retention.run",
                    actor=actor,
                    target_type="retention_run",
                    target_id=run.run_id,
                    details={
                        "documents": [d["document_id"] for d in run.documents],
                        "chunks": run.chunks,
                        "collections": sorted({d["collection_id"] for d in run.documents}),
                        "conversations": run.conversations,
                    },
                )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_RUN_LOCK])
    logger.info(
        "retention run %s: %d document(s), %d conversation(s) destroyed",
        run.run_id,
        len(run.documents),
        run.conversations,
    )
    return run


def _describe_plain(document: Any) -> dict[str, Any]:
    return {
        "document_id": document.pk,
        "collection_id": document.collection_id,
        "uploaded_at": document.created_at.isoformat(),
        "expired_at": document.expires_at.isoformat(),
    }


def document_destroy(
    *,
    document: Any,
    reason: str,
    run_id: str,
    destroyed_by: int | None = None,
    expired_at: datetime | None = None,
) -> DestructionRecord:
    """Destroy one document — chunks (and so their vectors and subject-index rows), the copies citations
    made of it, the row, the stored file after commit — and record it. Call inside a transaction."""
    from rag import storage
    from rag.models import Chunk, Citation, Document

    now = timezone.now()
    chunks = Chunk.objects.filter(document_id=document.pk).delete()[1].get("rag.Chunk", 0)
    Citation.objects.filter(document_id=document.pk).update(
        snippet="", section="", title=DESTROYED_TITLE, chunk=None, document=None
    )
    Document.objects.filter(pk=document.pk).delete()
    record = DestructionRecord.objects.create(
        run_id=run_id,
        reason=reason,
        collection_id=document.collection_id,
        document_id=document.pk,
        document_sha256=document.sha256,
        chunks=chunks,
        uploaded_at=document.created_at,
        expired_at=expired_at,
        destroyed_at=now,
        destroyed_by=destroyed_by,
        keep_until=now + timedelta(days=settings.DESTRUCTION_RECORD_KEEP_DAYS),
    )
    if document.file_path:
        transaction.on_commit(partial(storage.delete, document.file_path), robust=True)
    return record
