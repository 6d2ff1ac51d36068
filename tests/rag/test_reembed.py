"""A change of embedding model re-embeds in the background without a moment of lost search: each collection
keeps answering from its old vectors until every chunk has a new one, then switches at once (audited)."""

from __future__ import annotations

import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from governance.models import AuditEvent
from inference import embeddings
from rag.models import Chunk, Collection
from rag.selectors import chunk_search
from rag.selectors.vectors import collections_pending_count, embedding_progress, searchable_models
from rag.services.vectors import collection_reembed, collections_to_reembed
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

LEAVE = b"Annual leave: every employee has 24 days of paid leave per year.\n\n" + b"Filler paragraph. " * 80
BADGE = b"Server room access needs a badge issued by facilities.\n\n" + b"Other words here. " * 80


def _models(collection: Collection) -> set[str]:
    return set(Chunk.objects.filter(collection=collection).values_list("embedding_model", flat=True))


def test_switching_models_reembeds_without_losing_search(alice: Any, collection_a: Collection) -> None:
    with override_settings(EMBEDDING_MODEL=embeddings.MINILM):
        leave = ingest_bytes(collection_a, alice, LEAVE, "leave.txt")
        ingest_bytes(collection_a, alice, BADGE, "badge.txt")
        collection_a.refresh_from_db()
        assert collection_a.embedding_model == embeddings.MINILM
        assert collections_to_reembed() == []
    old_chunks = Chunk.objects.filter(collection=collection_a).count()
    assert old_chunks >= 4

    # EMBEDDING_MODEL back to the default: multilingual-e5-small.
    assert embeddings.active_key() == embeddings.E5_SMALL
    assert collections_to_reembed() == [collection_a.pk]
    assert collections_pending_count() == 1  # what /api/v1/health reports
    assert searchable_models() == sorted([embeddings.E5_SMALL, embeddings.MINILM])
    hits = chunk_search(user=alice, query="how many vacation days do I get", k=3)
    assert hits[0].document_id == leave.pk and hits[0].embedding_model == embeddings.MINILM

    # One batch, then stopped (deadline passed): pending vectors, the collection still on the old model.
    assert not collection_reembed(collection_id=collection_a.pk, batch=1, deadline=time.monotonic() - 1)
    assert Chunk.objects.filter(collection=collection_a, pending_model=embeddings.E5_SMALL).count() == 1
    collection_a.refresh_from_db()
    assert collection_a.embedding_model == embeddings.MINILM and _models(collection_a) == {embeddings.MINILM}
    hits = chunk_search(user=alice, query="how many vacation days do I get", k=3)
    assert hits[0].document_id == leave.pk and hits[0].embedding_model == embeddings.MINILM
    [progress] = embedding_progress(collection_id=collection_a.pk)
    assert (progress.done, progress.chunks, progress.complete) == (1, old_chunks, False)

    # A document uploaded meanwhile is embedded with the new model and found by it.
    fresh = ingest_bytes(
        collection_a, alice, "Kargo teslimatları Zonguldak deposundan yapılır.".encode(), "kargo.txt"
    )
    assert set(Chunk.objects.filter(document=fresh).values_list("embedding_model", flat=True)) == {
        embeddings.E5_SMALL
    }
    hits = chunk_search(user=alice, query="kargolar hangi depodan gönderiliyor", k=3)
    assert hits[0].document_id == fresh.pk and hits[0].embedding_model == embeddings.E5_SMALL

    # The rest, then the switch: every chunk on the new model, nothing pending, one audit event.
    assert collection_reembed(collection_id=collection_a.pk, batch=2)
    collection_a.refresh_from_db()
    assert collection_a.embedding_model == embeddings.E5_SMALL
    assert _models(collection_a) == {embeddings.E5_SMALL}
    assert not Chunk.objects.filter(collection=collection_a).exclude(pending_model="").exists()
    assert Chunk.objects.filter(collection=collection_a).count() == old_chunks + 1  # nothing lost
    event = AuditEvent.objects.get(action="embedding.switch", target_id=str(collection_a.pk))
    assert event.details["from"] == embeddings.MINILM and event.details["to"] == embeddings.E5_SMALL
    assert collections_to_reembed() == []
    assert collections_pending_count() == 0
    assert searchable_models() == [embeddings.E5_SMALL]
    hits = chunk_search(user=alice, query="how many vacation days do I get", k=3)
    assert hits[0].document_id == leave.pk and hits[0].embedding_model == embeddings.E5_SMALL


def test_switch_waits_for_every_chunk(alice: Any, collection_a: Collection) -> None:
    from rag.services.vectors import collection_switch

    with override_settings(EMBEDDING_MODEL=embeddings.MINILM):
        ingest_bytes(collection_a, alice, LEAVE, "leave.txt")
    assert not collection_switch(collection_id=collection_a.pk, key=embeddings.E5_SMALL)
    assert _models(collection_a) == {embeddings.MINILM}
    assert not AuditEvent.objects.filter(action="embedding.switch").exists()


def test_command_reembeds_and_reports(alice: Any, collection_a: Collection) -> None:
    with override_settings(EMBEDDING_MODEL=embeddings.MINILM):
        ingest_bytes(collection_a, alice, BADGE, "badge.txt")
    out = StringIO()
    call_command("reembed", "--status", stdout=out)
    assert "re-embedding 0/" in out.getvalue() and f"searches with {embeddings.MINILM}" in out.getvalue()
    out = StringIO()
    call_command("reembed", stdout=out)
    assert f"collection {collection_a.pk}: switched" in out.getvalue()
    assert f"searches with {embeddings.E5_SMALL}" in out.getvalue()
    assert _models(collection_a) == {embeddings.E5_SMALL}


def test_admin_shows_the_progress(admin_client: Any, alice: Any, collection_a: Collection) -> None:
    with override_settings(EMBEDDING_MODEL=embeddings.MINILM):
        ingest_bytes(collection_a, alice, BADGE, "badge.txt")
    page = admin_client.get("/admin/rag/collection/").content.decode()
    assert "re-embedding with multilingual-e5-small: 0 of" in page
