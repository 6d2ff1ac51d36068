"""Celery tasks: thin adapters from a message (ids only, JSON) to one service call."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from inference.embedding_server import EmbeddingServerUnavailable
from rag.services.documents import INGEST_TASK, documents_requeue_stale
from rag.services.ingest import document_ingest, document_mark_failed, embedding_unavailable_reason
from rag.services.vectors import embeddings_reembed as vectors_reembed

logger = logging.getLogger(__name__)


@shared_task(
    name=INGEST_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, ConnectionError, EmbeddingServerUnavailable),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def ingest_document(self: Task, document_id: int) -> str:
    """Ingest one document. Idempotent: safe to deliver twice, to retry, or to run after a crash mid-way
    (see rag.services.ingest). Transient database/broker errors are retried with backoff, and so is an
    embedding server that does not answer, until the last retry fails the document with the reason; everything
    the document itself is to blame for marks it failed with a reason and is not retried."""
    task_id = self.request.id or "eager"
    try:
        document = document_ingest(document_id=document_id, task_id=task_id)
    except EmbeddingServerUnavailable as exc:
        if self.max_retries is None or self.request.retries < self.max_retries:
            raise  # autoretry_for: again after a backoff
        reason = embedding_unavailable_reason(exc, attempts=self.request.retries + 1)
        document_mark_failed(document_id=document_id, reason=reason, task_id=task_id)
        return "failed"
    except SoftTimeLimitExceeded:
        document_mark_failed(
            document_id=document_id,
            reason="Processing took longer than the time limit (INGEST_TIME_LIMIT_S); the file may be too large.",
            task_id=task_id,
        )
        return "failed"
    except (OperationalError, InterfaceError, ConnectionError):
        raise
    except Exception:
        # A bug, not the document's fault. Record it so the document does not sit in "processing" forever,
        # then re-raise so the worker log keeps the traceback.
        logger.exception("ingest of document %s crashed", document_id)
        document_mark_failed(
            document_id=document_id,
            task_id=task_id,
            reason=f"Unexpected error while processing (reference {task_id}); the administrator can find "
            "details in the worker log.",
        )
        raise
    if document is None:
        return "gone"
    return str(document.status)


@shared_task
def requeue_stale_documents() -> int:
    """Periodic (Celery beat): re-send ingest tasks that were lost. Idempotent by construction."""
    return documents_requeue_stale()


@shared_task(
    name="rag.tasks.embeddings_reembed",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError, ConnectionError),
    retry_backoff=True,
    max_retries=5,
)
def embeddings_reembed(budget_s: float = 240.0) -> list[int]:
    """Periodic (Celery beat): re-embed collections not yet on the configured model, a few minutes at a time
    (progress is in the rows; the next run goes on). Returns the collections that switched."""
    try:
        return vectors_reembed(budget_s=budget_s)
    except EmbeddingServerUnavailable as exc:
        logger.warning("re-embedding paused until the next run: %s", exc)
        return []
