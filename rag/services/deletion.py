"""Deleting what the document domain holds: the one path every deletion takes.

The API, the portal, the admin, retention and data-subject erasure all delete through these functions, so a
document always goes the same way: its chunks (and with their rows the embedding vectors, the full-text
vectors and the subject-index rows, which cascade), the copies that citations made of it, the row, an audit
event naming the acting user, and the stored file after commit. Compliance workflows add their own records
(destruction records, receipts) around these calls; they never delete domain rows themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from governance.audit import Actor, audit_record
from rag import storage
from rag.models import Answer, Chunk, Citation, Conversation, Document
from rag.selectors import NotFound

logger = logging.getLogger(__name__)

# What a citation of a deleted document shows instead of the passage it copied.
DESTROYED_TITLE = "[destroyed]"


@dataclass(frozen=True)
class DeletedDocument:
    """What was deleted, without any of its content: enough for a destruction record or a receipt."""

    document_id: int
    collection_id: int
    sha256: str
    chunks: int
    uploaded_at: datetime


def document_delete(
    *,
    document: Document,
    actor: Actor,
    action: str = "document.delete",
    details: dict[str, Any] | None = None,
) -> DeletedDocument:
    """Delete a document whole, in one transaction (a savepoint inside the caller's). ``action`` and
    ``details`` name the audit event (``retention.destroy`` for a retention run, …); the acting user is
    ``actor``'s. Raises NotFound when the document is already gone."""
    with transaction.atomic():
        # Lock first: an ingestion finishing right now waits, then finds the row gone and discards its work.
        locked = Document.objects.select_for_update().filter(pk=document.pk).first()
        if locked is None:
            # Deleted meanwhile (by another request, retention or an erasure): nothing to delete or audit.
            raise NotFound(f"Document {document.pk} not found.")
        # From here on the locked row, not the caller's copy (an admin's or a queryset's may be stale: a
        # partial erasure may have removed the stored file meanwhile, an ingestion changed the counts).
        document = locked
        chunks = Chunk.objects.filter(document_id=document.pk).delete()[1].get("rag.Chunk", 0)
        # The passages copied into answers go with the document; the answers keep the record that a source
        # was cited (their text is withheld from readers from now on: rag.selectors.answers_shown).
        _citations_blank(Citation.objects.filter(document_id=document.pk))
        Document.objects.filter(pk=document.pk).delete()
        deleted = DeletedDocument(
            document_id=document.pk,
            collection_id=document.collection_id,
            sha256=document.sha256,
            chunks=chunks,
            uploaded_at=document.created_at,
        )
        audit_record(
            action=action,
            actor=actor,
            target_type="document",
            target_id=document.pk,
            collection_id=document.collection_id,
            details={"chunks": chunks, "sha256": document.sha256, **(details or {})},
        )
        _delete_file_on_commit(document.file_path)
    logger.info("document %s deleted (%s)", document.pk, action)
    return deleted


def passages_delete(*, document: Document, chunk_ids: Iterable[int]) -> bool:
    """Delete some passages of a document and keep the rest (an erasure whose scope is the passage). The
    stored file still holds the deleted passages, so it goes too (no re-ingestion brings them back), and the
    document is set ready with no task: an ingestion in flight or queued discards its work instead of writing
    the passages back. Call inside the caller's transaction, with the document locked. Returns whether a
    stored file was removed."""
    chunk_ids = list(chunk_ids)
    # The copies citations made of these passages go with them, as when a whole document is deleted.
    _citations_blank(Citation.objects.filter(chunk_id__in=chunk_ids))
    Chunk.objects.filter(document_id=document.pk, pk__in=chunk_ids).delete()
    Document.objects.filter(pk=document.pk).update(
        chunk_count=Chunk.objects.filter(document_id=document.pk).count(),
        file_path="",
        file_key="",  # the wrapped data key goes first: the file is unreadable from now on, backups included
        file_key_id="",
        status=Document.Status.READY,
        task_id="",
        updated_at=timezone.now(),
    )
    _delete_file_on_commit(document.file_path)
    return bool(document.file_path)


@dataclass(frozen=True)
class DeletedAnswers:
    answers: int
    citations: int
    conversations_deleted: int
    conversations_retitled: int


def answers_delete(
    *, answer_ids: Iterable[int], retitle_conversation_ids: Iterable[int] = ()
) -> DeletedAnswers:
    """Delete answers (with their citations and feedback); conversations left empty go too, and the
    conversations in ``retitle_conversation_ids`` that remain lose their title (it named someone)."""
    answer_ids = set(answer_ids)
    retitle = set(retitle_conversation_ids)
    touched = (
        set(Answer.objects.filter(pk__in=answer_ids).values_list("conversation_id", flat=True)) | retitle
    )
    citations = Citation.objects.filter(answer_id__in=answer_ids).count()
    answers = Answer.objects.filter(pk__in=answer_ids).delete()[1].get("rag.Answer", 0)
    emptied = list(
        Conversation.objects.filter(pk__in=touched, answers__isnull=True).values_list("pk", flat=True)
    )
    Conversation.objects.filter(pk__in=emptied).delete()
    retitled = Conversation.objects.filter(pk__in=retitle - set(emptied)).update(
        title="—", updated_at=timezone.now()
    )
    return DeletedAnswers(
        answers=answers,
        citations=citations,
        conversations_deleted=len(emptied),
        conversations_retitled=retitled,
    )


def conversations_delete(*, conversation_ids: Iterable[int]) -> int:
    """Delete conversations whole: their questions, answers and the passages their citations copied."""
    return Conversation.objects.filter(pk__in=list(conversation_ids)).delete()[1].get("rag.Conversation", 0)


def chunks_vacuum() -> None:
    """Deleted passages (and their vectors) stay on disk until VACUUM reclaims them: do it now, best effort.
    Call after the deleting transaction has committed; inside a transaction (a test's, a caller's) VACUUM
    cannot run and this does nothing."""
    if connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM rag_chunk")
    except Exception:  # noqa: BLE001 — a busy table is vacuumed by autovacuum later
        logger.warning("VACUUM after erasure did not run; autovacuum will reclaim the space")


def _citations_blank(citations: QuerySet[Citation]) -> int:
    """Blank the passages citations copied (title, section, snippet) and unlink them; the citation row and
    its number stay, so the answer still records that a source was cited."""
    return citations.update(
        snippet="", section="", title=DESTROYED_TITLE, page=None, chunk=None, document=None
    )


def _delete_file_on_commit(path: str) -> None:
    if path:
        # robust: a file that cannot be removed is logged; it does not undo a committed deletion.
        transaction.on_commit(partial(storage.delete, path), robust=True)
