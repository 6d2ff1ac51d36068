"""Embedding vectors by model: their indexes, re-embedding after a change of model, and the switch.

Every chunk records the key of the model its vector came from. Each (model, width) has its own partial HNSW
index over ``embedding::vector(width)``, so models of different widths share the column and search reads each
model's vectors with that model's query embedding (rag.selectors.search).

When ``EMBEDDING_MODEL`` changes, nothing stops: a background job (``rag.tasks.embeddings_reembed``, the beat
schedule, or ``manage.py reembed``) embeds every chunk of each collection with the new model into
``pending_embedding``, a batch at a time, while search keeps using the old vectors. When a collection has a new
vector for every chunk, one transaction swaps them in and the collection switches (audited). Documents ingested
meanwhile are embedded with the new model directly. A crash loses at most a batch of work: progress is the rows.
"""

from __future__ import annotations

import logging
import time

from django.db import connection, transaction

from governance.audit import audit_record
from inference import embeddings
from rag.chunking import TextChunk
from rag.models import Chunk, Collection
from rag.selectors.vectors import collections_to_reembed
from rag.services.ingest import embedding_input
from rag.services.vector_indexes import vector_index_check

logger = logging.getLogger(__name__)

REEMBED_BATCH = 64
_REEMBED_LOCK = 0x656D62  # + collection id: one re-embedding per collection at a time


def _reembed_batch(*, collection_id: int, key: str, batch: int) -> int:
    rows = list(
        Chunk.objects.filter(collection_id=collection_id)
        .exclude(embedding_model=key)
        .exclude(pending_model=key)
        .select_related("document")
        .only("id", "text", "page", "section", "token_count", "document__title")
        .order_by("id")[:batch]
    )
    if not rows:
        return 0
    inputs = [
        embedding_input(
            title=row.document.title,
            chunk=TextChunk(text=row.text, page=row.page, section=row.section, token_count=row.token_count),
        )
        for row in rows
    ]
    vectors = embeddings.embed(inputs, key=key)
    vector_index_check(key, int(vectors.shape[1]))
    with transaction.atomic():
        for row, vector in zip(rows, vectors, strict=True):
            # A chunk deleted or replaced (re-ingested) meanwhile simply matches nothing.
            Chunk.objects.filter(pk=row.pk, text=row.text).exclude(embedding_model=key).update(
                pending_embedding=vector, pending_model=key
            )
    return len(rows)


def collection_switch(*, collection_id: int, key: str) -> bool:
    """Swap in the pending vectors of ``key`` if every chunk of the collection has one. Audited."""
    with transaction.atomic():
        collection = Collection.objects.select_for_update().filter(pk=collection_id).first()
        if collection is None:
            return False
        missing = (
            Chunk.objects.filter(collection_id=collection_id)
            .exclude(embedding_model=key)
            .exclude(pending_model=key)
            .exists()
        )
        if missing:
            return False
        previous = collection.embedding_model
        switched = Chunk.objects.filter(collection_id=collection_id, pending_model=key).count()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE rag_chunk SET embedding = pending_embedding, embedding_model = pending_model, "
                "pending_embedding = NULL, pending_model = '' WHERE collection_id = %s AND pending_model = %s",
                [collection_id, key],
            )
        # Pending vectors of a model no longer configured are dropped.
        Chunk.objects.filter(collection_id=collection_id).exclude(pending_model="").update(
            pending_embedding=None, pending_model=""
        )
        Collection.objects.filter(pk=collection_id).update(embedding_model=key)
        audit_record(
            action="embedding.switch",
            target_type="collection",
            target_id=collection_id,
            collection_id=collection_id,
            details={"from": previous, "to": key, "chunks": switched},
        )
    return True


def collection_reembed(
    *, collection_id: int, key: str | None = None, batch: int = REEMBED_BATCH, deadline: float | None = None
) -> bool:
    """Re-embed one collection with ``key`` (the configured model) until done or ``deadline`` (monotonic
    seconds). True when the collection has switched. Returns False at once if another process holds it."""
    key = key or embeddings.active_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_REEMBED_LOCK, collection_id])
        if not cursor.fetchone()[0]:
            return False
    try:
        while _reembed_batch(collection_id=collection_id, key=key, batch=batch):
            if deadline is not None and time.monotonic() > deadline:
                return False
        return collection_switch(collection_id=collection_id, key=key)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_REEMBED_LOCK, collection_id])


def embeddings_reembed(*, budget_s: float | None = None) -> list[int]:
    """Re-embed every collection not yet on the configured model, within ``budget_s`` seconds if given.
    Returns the collections that switched."""
    deadline = time.monotonic() + budget_s if budget_s else None
    switched = []
    for collection_id in collections_to_reembed():
        if collection_reembed(collection_id=collection_id, deadline=deadline):
            switched.append(collection_id)
            logger.info("collection %s now searches with %s", collection_id, embeddings.active_key())
        if deadline is not None and time.monotonic() > deadline:
            break
    return switched


__all__ = [
    "collection_reembed",
    "collection_switch",
    "collections_to_reembed",
    "embeddings_reembed",
]
