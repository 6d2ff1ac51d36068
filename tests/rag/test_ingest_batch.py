"""Small documents are embedded together: a task takes other queued small documents along, embeds all their
passages in one batch, and still claims, stores, fails and audits each document on its own."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from governance.models import AuditEvent
from inference import embeddings
from rag.chunking import TextChunk
from rag.models import Chunk, Collection, Document
from rag.services.documents import document_create
from rag.services.ingest import document_ingest, embedding_input

pytestmark = pytest.mark.django_db


def _queued(collection: Collection, user: Any, data: bytes, name: str) -> Document:
    document, _ = document_create(
        collection=collection, uploaded_by=user, stream=io.BytesIO(data), filename=name
    )
    assert document.status == Document.Status.QUEUED
    return document


def test_small_documents_are_embedded_together(alice: Any, collection_a: Collection, settings: Any) -> None:
    settings.INGEST_BATCH_CHUNKS = 64
    notes = [
        _queued(collection_a, alice, f"Note {i}: the {word} report is due on Friday.".encode(), f"n{i}.txt")
        for i, word in enumerate(["budget", "audit", "travel", "hiring", "safety"])
    ]
    corrupt = _queued(collection_a, alice, b"%PDF-1.7 broken beyond repair", "broken.pdf")
    later = _queued(collection_a, alice, b"A later note about the parking garage.", "later.txt")

    result = document_ingest(document_id=notes[0].pk, task_id="task-0")
    assert result is not None and result.status == Document.Status.READY
    for document in [*notes, later]:
        document.refresh_from_db()
        assert document.status == Document.Status.READY, document.error
        assert document.task_id == "task-0"  # taken along by the first task
    corrupt.refresh_from_db()
    assert corrupt.status == Document.Status.FAILED and corrupt.error  # failed alone, with its reason
    # One ingest audit event per document, as before.
    events = AuditEvent.objects.filter(action="document.ingest")
    assert sorted(int(e.target_id) for e in events) == sorted(d.pk for d in [*notes, later, corrupt])

    # The vectors are each passage's own, as if embedded one document at a time.
    chunk = Chunk.objects.get(document=notes[3])
    alone = embeddings.embed(
        [embedding_input(title=notes[3].title, chunk=TextChunk(chunk.text, chunk.page, chunk.section, 1))]
    )[0]
    notes[3].refresh_from_db()
    stored = np.asarray(chunk.embedding.to_list() if hasattr(chunk.embedding, "to_list") else chunk.embedding)
    assert float(stored @ alone) > 0.999

    # Their own tasks come later and find nothing to do.
    again = document_ingest(document_id=notes[2].pk, task_id="task-2")
    assert again is not None and again.status == Document.Status.READY and again.task_id == "task-0"
    assert AuditEvent.objects.filter(action="document.ingest").count() == events.count()


def test_batching_off_takes_one_document(alice: Any, collection_a: Collection, settings: Any) -> None:
    settings.INGEST_BATCH_CHUNKS = 0
    first = _queued(collection_a, alice, b"First small note.", "a.txt")
    second = _queued(collection_a, alice, b"Second small note.", "b.txt")
    document_ingest(document_id=first.pk, task_id="t")
    second.refresh_from_db()
    assert second.status == Document.Status.QUEUED


def test_large_files_are_not_taken_along(alice: Any, collection_a: Collection, settings: Any) -> None:
    settings.INGEST_BATCH_MAX_BYTES = 100
    small = _queued(collection_a, alice, b"Small note.", "s.txt")
    big = _queued(collection_a, alice, b"Long note. " * 50, "big.txt")
    document_ingest(document_id=small.pk, task_id="t")
    big.refresh_from_db()
    assert big.status == Document.Status.QUEUED
