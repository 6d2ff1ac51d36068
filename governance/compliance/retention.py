"""Retention and periodic destruction (KVKK by-law on erasure, destruction and anonymisation; GDPR Art. 5(1)(e)).

Each collection's records-of-processing entry sets how many days a document is kept after its upload. A
Celery beat job (``RETENTION_RUN_EVERY_S``, at most six months as the by-law requires; daily by default) and
``manage.py retention`` destroy every expired document with its chunks, vectors, subject-index rows, stored
file and the citation snippets that copied it, and write one ``DestructionRecord`` per document (kept for
``DESTRUCTION_RECORD_KEEP_DAYS``, at least three years; a trigger refuses earlier deletion), an audit event
per document (``retention.destroy``, written by the deletion service) and one per run. ``retention_preview``
is the dry run: what the next run would destroy.

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
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.audit import SYSTEM, Actor, audit_record
from governance.compliance.evaluation_upkeep import evaluation_items_prune
from governance.models import DestructionRecord
from rag.selectors.lifecycle import conversations_idle, documents_expired
from rag.services.deletion import DeletedDocument, conversations_delete, document_delete

logger = logging.getLogger(__name__)

_RUN_LOCK = 0x456D616E6574 + 1  # one retention run at a time across processes


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


def retention_preview(*, now: datetime | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """The dry run: the documents the next run will destroy (at ``now``, default: the present)."""
    rows = documents_expired(now or timezone.now()).select_related("collection")[:limit]
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
        run.conversations = conversations_idle(days=settings.CONVERSATION_RETENTION_DAYS, now=now).count()
        return run
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_RUN_LOCK])
        if not cursor.fetchone()[0]:
            run.already_running = True
            return run
    try:
        for document_id in list(documents_expired(now).values_list("pk", flat=True)):
            with transaction.atomic():
                document = (
                    documents_expired(now)
                    .select_for_update(skip_locked=True, of=("self",))
                    .filter(pk=document_id)
                    .first()
                )
                if document is None:  # destroyed meanwhile, or locked by someone deleting it right now
                    run.skipped_locked += 1
                    continue
                deleted = document_destroy(
                    document=document,
                    actor=actor,
                    reason=DestructionRecord.Reason.RETENTION,
                    run_id=run.run_id,
                    expired_at=document.expires_at,
                )
                described = {**_describe_plain(document), "chunks": deleted.chunks}
                run.documents.append(described)
        with transaction.atomic():
            # Questions, answers and the passages their citations copied: kept as long as the conversation is
            # used, then destroyed like documents (CONVERSATION_RETENTION_DAYS after its last activity).
            expired = conversations_idle(days=settings.CONVERSATION_RETENTION_DAYS, now=now)
            run.conversations = conversations_delete(conversation_ids=expired.values_list("pk", flat=True))
            evaluation_items_prune(actor=actor)  # evaluation questions copied from those answers go too
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
    actor: Actor,
    reason: str,
    run_id: str,
    expired_at: datetime | None = None,
) -> DeletedDocument:
    """Destroy a document through the one deletion service (audited as ``<reason>.destroy`` with the run) and
    keep the evidence: a DestructionRecord with ids, hash and counts, no content. Call inside a transaction."""
    deleted = document_delete(
        document=document, actor=actor, action=f"{reason}.destroy", details={"run_id": run_id}
    )
    now = timezone.now()
    DestructionRecord.objects.create(
        run_id=run_id,
        reason=reason,
        collection_id=deleted.collection_id,
        document_id=deleted.document_id,
        document_sha256=deleted.sha256,
        chunks=deleted.chunks,
        uploaded_at=deleted.uploaded_at,
        expired_at=expired_at,
        destroyed_at=now,
        destroyed_by=actor.user_id,
        keep_until=now + timedelta(days=settings.DESTRUCTION_RECORD_KEEP_DAYS),
    )
    return deleted
