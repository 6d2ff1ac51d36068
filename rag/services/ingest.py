"""Ingestion, top to bottom: claim → read → parse → detect language → redact → chunk → embed → store.

Personal data is redacted under the collection's policy before anything is chunked, embedded or stored: the
stored chunk, its embedding and its citation snippet are the redacted text, and the title and headings are
redacted too. Redaction runs on whole sections (so a chunk boundary cannot split an identifier past
recognition); the subject index records which chunk mentions whom (HMAC keys, never values).

Idempotency contract: ``document_ingest`` may run any number of times for one document (redelivery after a
worker crash, a retry after a database hiccup). A document already ready is left alone; otherwise the run
replaces every chunk of the document in one transaction, so readers see either the old set or the new one
and never two. Only one run works on a document at a time (``document_claim``).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from governance.audit import audit_record
from governance.inventory import inventory_entry
from governance.models import SubjectMention
from governance.pii.policies import policy_for_collection
from governance.pii.redaction import Redactor, redact_text
from governance.special import special_categories_in
from inference import embeddings
from inference.embedding_server import EmbeddingServerError, EmbeddingServerUnavailable
from rag import storage
from rag.chunking import TextChunk, chunk_sections
from rag.language import detect_language, search_config_for
from rag.models import Chunk, Collection, Document
from rag.parsing import ParseError, Section, mime_type_for, parse
from rag.parsing.formats import title_from_filename
from rag.services.documents import default_title
from rag.services.vector_indexes import vector_index_check

logger = logging.getLogger(__name__)


# One delivery plus Celery's 5 retries; beyond that a document is failed instead of retried again.
MAX_ATTEMPTS = 6
# Title/heading prefix embedded with each chunk: at most CONTEXT_CHARS characters, budgeted as CONTEXT_TOKENS.
CONTEXT_CHARS = 120
CONTEXT_TOKENS = 48


class IngestFailed(Exception):
    """A permanent failure: retrying will not help. The message is shown to the uploader."""


def document_claim(*, document_id: int, task_id: str) -> bool:
    """Atomically take the document for processing; False if someone else has it or it is done.

    A document in PROCESSING may be re-taken by the same Celery task id (a retry or a redelivery after the
    worker died: its hard time limit is shorter than the broker's visibility timeout, so the first attempt
    is gone) or once its lease is older than the ingest time limit.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.INGEST_TIME_LIMIT_S)
    claimable = Q(status=Document.Status.QUEUED) | Q(
        Q(status=Document.Status.PROCESSING)
        & (Q(task_id=task_id) | Q(processing_started_at__lt=stale_before))
    )
    updated = Document.objects.filter(claimable, pk=document_id).update(
        status=Document.Status.PROCESSING,
        task_id=task_id[:64],
        processing_started_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return updated == 1


def document_mark_failed(*, document_id: int, reason: str, task_id: str | None = None) -> bool:
    """Fail a document that is being processed (by ``task_id`` when given). A document that already became
    ready, or that another run has taken over, is left alone. Returns whether it was marked."""
    with transaction.atomic():
        claimed = Document.objects.select_for_update().filter(
            pk=document_id, status=Document.Status.PROCESSING
        )
        if task_id is not None:
            claimed = claimed.filter(task_id=task_id[:64])
        row = claimed.first()
        if row is None:
            return False
        Chunk.objects.filter(document_id=document_id).delete()
        # Parser messages may quote the file ("invalid object 'Ayşe Kaya …'"): redacted like any stored text.
        error = redact_text(reason)[:2000]
        Document.objects.filter(pk=document_id).update(
            status=Document.Status.FAILED,
            error=error,
            chunk_count=0,
            updated_at=timezone.now(),
        )
        audit_record(
            action="document.ingest",
            outcome="failed",
            target_type="document",
            target_id=document_id,
            collection_id=row.collection_id,
            # The readable reason lives on the document (erasable); the append-only trail keeps its hash only:
            # a parser message can quote the file.
            details={"reason_sha256": hashlib.sha256(error.encode()).hexdigest(), "reason_chars": len(error)},
        )
    return True


def embedding_input(*, title: str, chunk: TextChunk) -> str:
    """What the model embeds: the chunk with its document title and heading as context."""
    # Bounded (~40 tokens) so that prefix + chunk stays inside the model window (see CONTEXT_TOKENS).
    context = " — ".join(part for part in (title, chunk.section) if part)[:CONTEXT_CHARS]
    return f"{context}\n{chunk.text}" if context else chunk.text


def document_ingest(*, document_id: int, task_id: str = "direct") -> Document | None:
    """Ingest one document (the Celery task's work). A small one takes other small queued documents along
    (``_companions``), so that their passages are embedded in one batch: per-text cost on a CPU is much
    lower in batches. Each document is still claimed, failed, stored and audited on its own."""
    prepared = _claim_and_prepare(document_id=document_id, task_id=task_id)
    if not isinstance(prepared, _Prepared):
        return prepared
    batch = [prepared]
    if len(prepared.chunks) < settings.INGEST_BATCH_CHUNKS:
        batch += _companions(task_id=task_id, budget=settings.INGEST_BATCH_CHUNKS - len(prepared.chunks))
    model_key = embeddings.active_key()
    inputs = [embedding_input(title=p.title, chunk=chunk) for p in batch for chunk in p.chunks]
    try:
        # No transaction is open here: embedding takes seconds to minutes.
        vectors = embeddings.embed(inputs, key=model_key)
    except EmbeddingServerUnavailable:
        _release([p.document.pk for p in batch[1:]], task_id=task_id)
        raise  # transient: the task tries again later, then fails the document (rag.tasks.ingest_document)
    except EmbeddingServerError as exc:
        reason = f"The embedding server could not embed this document: {str(exc).rstrip('.')}."
        for p in batch:
            document_mark_failed(document_id=p.document.pk, reason=reason, task_id=task_id)
        return Document.objects.filter(pk=document_id).first()
    vector_index_check(model_key, int(vectors.shape[1]))
    stored: Document | None = None
    start = 0
    for p in batch:
        result = _store(p, vectors[start : start + len(p.chunks)], model_key=model_key, task_id=task_id)
        start += len(p.chunks)
        if p is prepared:
            stored = result
    return stored


def _claim_and_prepare(*, document_id: int, task_id: str) -> _Prepared | Document | None:
    """Claim and prepare one document; a failure marks it failed. The document when not prepared."""
    if not document_claim(document_id=document_id, task_id=task_id):
        logger.info("document %s not claimable (done, gone or being processed elsewhere)", document_id)
        return Document.objects.filter(pk=document_id).first()
    Document.objects.filter(pk=document_id).update(attempts=F("attempts") + 1)
    document = Document.objects.filter(pk=document_id).first()
    if document is None:  # deleted between the claim and now
        return None
    try:
        if document.attempts > MAX_ATTEMPTS:
            # A file that kills the worker (out of memory, a parser crash) comes back with every redelivery.
            raise IngestFailed(
                f"Processing was interrupted {document.attempts - 1} times (the worker crashed or lost its "
                "database); giving up. The file may be too large or malformed."
            )
        return _prepare(document)
    except IngestFailed as exc:
        logger.info("document %s failed: %s", document_id, exc)
        document_mark_failed(document_id=document_id, reason=str(exc), task_id=task_id)
        return Document.objects.filter(pk=document_id).first()


def _companions(*, task_id: str, budget: int) -> list[_Prepared]:
    """Other queued documents, oldest first, taken until about ``budget`` passages; each claimed by this task
    (its own task later finds it done). Only small files: a large one fills a batch alone."""
    taken: list[_Prepared] = []
    candidates = (
        Document.objects.filter(
            status=Document.Status.QUEUED, size_bytes__lte=settings.INGEST_BATCH_MAX_BYTES
        )
        .order_by("id")
        .values_list("pk", flat=True)[: settings.INGEST_BATCH_DOCUMENTS]
    )
    for document_id in candidates:
        if budget <= 0:
            break
        try:
            prepared = _claim_and_prepare(document_id=document_id, task_id=task_id)
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # a bug with this file must not fail the document that took it along
            logger.exception("ingest of document %s (taken along by %s) crashed", document_id, task_id)
            document_mark_failed(
                document_id=document_id,
                task_id=task_id,
                reason=f"Unexpected error while processing (reference {task_id}); the administrator can find "
                "details in the worker log.",
            )
            continue
        if isinstance(prepared, _Prepared):
            taken.append(prepared)
            budget -= len(prepared.chunks)
    return taken


def _release(document_ids: list[int], *, task_id: str) -> None:
    """Give companions back to the queue (their own tasks, or the stale sweep, take them again)."""
    if document_ids:
        Document.objects.filter(
            pk__in=document_ids, status=Document.Status.PROCESSING, task_id=task_id[:64]
        ).update(status=Document.Status.QUEUED, task_id="", updated_at=timezone.now())


def embedding_unavailable_reason(exc: EmbeddingServerUnavailable, *, attempts: int) -> str:
    """Why a document failed after the embedding server stayed unavailable through every retry."""
    return (
        f"The embedding server did not answer after {attempts} attempts: {str(exc).rstrip('.')}. Upload the "
        "file again once "
        "it is back (GET /api/v1/health shows whether it answers)."
    )


@dataclass
class _Prepared:
    """A document parsed, redacted and chunked, waiting for its vectors."""

    document: Document
    kind: str
    page_count: int | None
    language: str
    detected: bool
    config: str
    title: str
    chunks: list[TextChunk]
    mentions: list[set[tuple[str, str]]]
    specials: list[list[str]]
    redactions: dict[str, int]


def _prepare(document: Document) -> _Prepared:
    try:
        data = storage.read_document(document)
    except (FileNotFoundError, ValueError) as exc:
        raise IngestFailed("The uploaded file is no longer on the server; upload it again.") from exc
    except storage.FileUnreadable as exc:
        raise IngestFailed(str(exc)) from exc
    try:
        kind, parsed = parse(data, document.original_filename)
    except ParseError as exc:
        raise IngestFailed(str(exc)) from exc

    language, detected = document.language, False
    if not language or document.language_detected:  # a re-run detects again rather than trusting itself
        language, detected = detect_language(parsed.text), True
    config = search_config_for(language)
    title = document.title
    if parsed.title and title in _default_titles(document):
        title = parsed.title

    redactor = Redactor(policy=policy_for_collection(document.collection_id), language=language)
    title = redactor.redact(title)
    sections = [
        Section(
            text=redactor.redact(section.text, final=False),
            page=section.page,
            heading=redactor.redact(section.heading, final=False),
        )
        for section in parsed.sections
    ]
    chunks = chunk_sections(
        sections,
        tokenizer=embeddings.tokenizer(),
        size=min(settings.CHUNK_TOKENS, embeddings.max_tokens() - 2 - CONTEXT_TOKENS),
        overlap=settings.CHUNK_OVERLAP_TOKENS,
    )
    if not chunks:
        raise IngestFailed("The file contains no readable text.")
    chunks, mentions = _finalize(redactor, chunks)
    return _Prepared(
        document=document,
        kind=kind,
        page_count=parsed.page_count,
        language=language,
        detected=detected,
        config=config,
        title=title,
        chunks=chunks,
        mentions=mentions,
        specials=[_special_categories(document, chunk, title) for chunk in chunks],
        redactions=dict(Counter(m.entity_type for m in redactor.mentions.values())),
    )


def _store(prepared: _Prepared, vectors: Any, *, model_key: str, task_id: str) -> Document | None:
    """Replace the document's chunks in one transaction, mark it ready, audit it."""
    p = prepared
    document, chunks, mentions, specials, config = p.document, p.chunks, p.mentions, p.specials, p.config
    title, language, detected = p.title, p.language, p.detected
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk=document.pk).first()
        if locked is None:
            logger.info("document %s was deleted while it was processed; discarding chunks", document.pk)
            return None
        if locked.status != Document.Status.PROCESSING or locked.task_id != task_id[:64]:
            logger.warning(
                "document %s was taken over by another run; discarding this one's chunks", document.pk
            )
            return locked
        if locked.special_declared and not document.special_declared:  # declared while this run worked
            specials = [special or ["declared"] for special in specials]
        Chunk.objects.filter(document_id=document.pk).delete()
        stored = Chunk.objects.bulk_create(
            [
                Chunk(
                    document_id=document.pk,
                    collection_id=document.collection_id,
                    ordinal=ordinal,
                    text=chunk.text,
                    page=chunk.page,
                    section=chunk.section[:500],
                    token_count=chunk.token_count,
                    embedding=vector,
                    embedding_model=model_key,
                    search_config=config,
                    special_categories=special,
                )
                for ordinal, (chunk, vector, special) in enumerate(
                    zip(chunks, vectors, specials, strict=True)
                )
            ],
            batch_size=500,
        )
        # A collection's first vectors set its model; one being re-embedded keeps the old until it switches.
        Collection.objects.filter(pk=document.collection_id, embedding_model="").update(
            embedding_model=model_key
        )
        SubjectMention.objects.bulk_create(
            [
                SubjectMention(
                    subject=subject,
                    entity_type=entity_type,
                    chunk_id=chunk.pk,
                    document_id=document.pk,
                    collection_id=document.collection_id,
                )
                for chunk, subjects in zip(stored, mentions, strict=True)
                for entity_type, subject in sorted(subjects)
            ],
            batch_size=1000,
        )
        locked.status = Document.Status.READY
        locked.error = ""
        locked.chunk_count = len(chunks)
        locked.page_count = p.page_count
        locked.mime_type = mime_type_for(p.kind)
        locked.language = language
        locked.language_detected = detected
        locked.title = title
        locked.special_title = bool(special_categories_in(f"{title}\n{locked.original_filename}"))
        locked.ingested_at = timezone.now()
        locked.save(
            update_fields=[
                "status",
                "error",
                "chunk_count",
                "page_count",
                "mime_type",
                "language",
                "language_detected",
                "title",
                "special_title",
                "ingested_at",
                "updated_at",
            ]
        )
    audit_record(
        action="document.ingest",
        target_type="document",
        target_id=document.pk,
        collection_id=document.collection_id,
        details={
            "chunks": len(chunks),
            "pages": p.page_count,
            "language": language,
            "redactions": p.redactions,
            "special_chunks": sum(1 for special in specials if special),
            "special_categories": sorted({c for special in specials for c in special}),
            # Special-category data found where the records of processing do not declare any: the entry
            # (and the legal basis for Art. 6 data) needs review.
            "special_undeclared": any(specials)
            and not inventory_entry(document.collection_id).special_categories,
        },
    )
    logger.info("document %s ready: %d chunks, language=%s", document.pk, len(chunks), language or "?")
    return locked


def _finalize(
    redactor: Redactor, chunks: list[TextChunk]
) -> tuple[list[TextChunk], list[set[tuple[str, str]]]]:
    """Resolve the redactor's markers in each chunk (kept values come back, dropped ones go) and collect the
    subjects each chunk mentions, for the subject index."""
    final: list[TextChunk] = []
    mentions: list[set[tuple[str, str]]] = []
    for chunk in chunks:
        text, subjects = redactor.finalize(chunk.text)
        section, in_heading = redactor.finalize(chunk.section)
        final.append(replace(chunk, text=text, section=section))
        mentions.append(subjects | in_heading)
    return final, mentions


def _special_categories(document: Document, chunk: TextChunk, title: str) -> list[str]:
    # The title too: "… psikiyatri raporu" makes every passage of the document special.
    found = special_categories_in(f"{title}\n{chunk.section}\n{chunk.text}")
    if document.special_declared and not found:
        found = ["declared"]
    return found


def _default_titles(document: Document) -> set[str]:
    """What the title is when the uploader gave none (documents uploaded before placeholders were kept whole
    in it have the older form)."""
    return {default_title(document.original_filename), title_from_filename(document.original_filename)}
