from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from rag.models import Chunk, Collection, Document
from rag.services.ingest import document_claim, document_ingest
from tests.files import make_pdf
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

LONG_TEXT = "\n\n".join(
    f"Section {i}. The maintenance schedule for pump {i} requires inspection every {i + 2} weeks."
    for i in range(80)
)


def test_text_document_becomes_ready_with_chunks_vectors_and_language(
    alice: Any, collection_a: Collection
) -> None:
    document = ingest_bytes(collection_a, alice, LONG_TEXT.encode(), "pumps.txt")
    assert document.status == Document.Status.READY
    assert document.error == ""
    assert document.language == "en" and document.language_detected
    assert document.mime_type == "text/plain"
    chunks = list(Chunk.objects.filter(document=document))
    assert len(chunks) == document.chunk_count > 1
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(len(c.embedding) == 384 for c in chunks)
    assert {c.collection_id for c in chunks} == {collection_a.pk}


def test_turkish_document_is_indexed_with_turkish_stemming(alice: Any, collection_a: Collection) -> None:
    text = "Çalışanların yıllık izin hakları kanunla belirlenir. İzinler çalışanın talebi üzerine kullanılır."
    document = ingest_bytes(collection_a, alice, text.encode(), "izin.txt")
    assert document.language == "tr"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_config::text, search_vector @@ to_tsquery('turkish', 'izin') FROM rag_chunk WHERE document_id = %s",
            [document.pk],
        )
        assert cursor.fetchall() == [("turkish", True)]


def test_given_language_wins_over_detection(alice: Any, collection_a: Collection) -> None:
    document = ingest_bytes(collection_a, alice, LONG_TEXT.encode(), "pumps.txt", language="de")
    assert document.language == "de" and not document.language_detected
    assert set(Chunk.objects.filter(document=document).values_list("search_config", flat=True)) == {"german"}


def test_pdf_chunks_carry_page_numbers(alice: Any, collection_a: Collection) -> None:
    data = make_pdf(["The cafeteria opens at eight.", "Parking is free on weekends."])
    document = ingest_bytes(collection_a, alice, data, "facilities.pdf")
    assert list(Chunk.objects.filter(document=document).values_list("page", flat=True)) == [1, 2]
    assert document.page_count == 2


def test_rerunning_ingestion_replaces_chunks_instead_of_adding(alice: Any, collection_a: Collection) -> None:
    document = ingest_bytes(collection_a, alice, LONG_TEXT.encode(), "pumps.txt")
    first_ids = set(Chunk.objects.filter(document=document).values_list("id", flat=True))
    # Simulate a redelivered task for a document whose first run died after writing (lease expired).
    Document.objects.filter(pk=document.pk).update(status=Document.Status.QUEUED)
    document_ingest(document_id=document.pk, task_id="second")
    chunks = Chunk.objects.filter(document=document)
    assert chunks.count() == document.chunk_count
    assert set(chunks.values_list("id", flat=True)).isdisjoint(first_ids)


def test_ready_document_is_not_processed_again(alice: Any, collection_a: Collection) -> None:
    document = ingest_bytes(collection_a, alice, LONG_TEXT.encode(), "pumps.txt")
    ids = list(Chunk.objects.filter(document=document).values_list("id", flat=True))
    document_ingest(document_id=document.pk, task_id="duplicate-delivery")
    assert list(Chunk.objects.filter(document=document).values_list("id", flat=True)) == ids


def test_only_one_run_claims_a_document(alice: Any, collection_a: Collection) -> None:
    document = Document.objects.create(
        collection=collection_a,
        title="t",
        original_filename="t.txt",
        mime_type="text/plain",
        sha256="0" * 64,
        size_bytes=1,
        uploaded_by=alice,
    )
    assert document_claim(document_id=document.pk, task_id="first")
    assert not document_claim(document_id=document.pk, task_id="other")
    assert document_claim(document_id=document.pk, task_id="first")  # the same task, redelivered


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "empty.txt", "The file is empty."),
        (b"%PDF-1.4 garbage", "broken.pdf", "The PDF file is damaged"),
        (b"\x89PNG\r\n\x1a\nxxxx", "image.png", "Unsupported file type"),
    ],
)
def test_bad_file_marks_only_that_document_failed(
    alice: Any, collection_a: Collection, data: bytes, name: str, reason: str
) -> None:
    good = ingest_bytes(collection_a, alice, LONG_TEXT.encode(), "pumps.txt")
    bad = ingest_bytes(collection_a, alice, data, name)
    assert bad.status == Document.Status.FAILED
    assert bad.error.startswith(reason)
    assert bad.chunk_count == 0 and not Chunk.objects.filter(document=bad).exists()
    good.refresh_from_db()
    assert good.status == Document.Status.READY
    assert Chunk.objects.filter(document=good).count() == good.chunk_count


def test_a_document_that_keeps_crashing_its_worker_is_failed_not_retried_forever(
    alice: Any, collection_a: Collection
) -> None:
    from rag.services.ingest import MAX_ATTEMPTS

    document = ingest_bytes(collection_a, alice, LONG_TEXT.encode(), "pumps.txt")
    Chunk.objects.filter(document=document).delete()
    Document.objects.filter(pk=document.pk).update(status=Document.Status.QUEUED, attempts=MAX_ATTEMPTS)
    result = document_ingest(document_id=document.pk, task_id="redelivered-again")
    assert result is not None and result.status == Document.Status.FAILED
    assert result.error.startswith(f"Processing was interrupted {MAX_ATTEMPTS} times")


def test_a_late_failure_never_overwrites_a_ready_document(alice: Any, collection_a: Collection) -> None:
    from rag.services.ingest import document_mark_failed

    document = ingest_bytes(collection_a, alice, LONG_TEXT.encode(), "pumps.txt")
    assert not document_mark_failed(document_id=document.pk, reason="soft time limit", task_id="test")
    document.refresh_from_db()
    assert document.status == Document.Status.READY
    assert Chunk.objects.filter(document=document).count() == document.chunk_count
