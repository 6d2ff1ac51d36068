"""Which embedding models' vectors exist, and how far a re-embedding has come (rag.services.vectors)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import connection

from inference import embeddings
from rag.models import Chunk, Collection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectionVectors:
    collection_id: int
    name: str
    model: str
    chunks: int
    done: int  # chunks with a vector of the target model (current or pending)

    @property
    def complete(self) -> bool:
        return self.done >= self.chunks


def embedding_progress(
    target: str | None = None, *, collection_id: int | None = None
) -> list[CollectionVectors]:
    """Per collection (or just ``collection_id``): how many of its chunks have a vector of ``target`` (the
    configured model), current or pending."""
    target = target or embeddings.active_key()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, c.name, c.embedding_model, count(ch.id),
                   count(ch.id) FILTER (WHERE ch.embedding_model = %(t)s OR ch.pending_model = %(t)s)
            FROM rag_collection c LEFT JOIN rag_chunk ch ON ch.collection_id = c.id
            WHERE %(c)s::bigint IS NULL OR c.id = %(c)s::bigint
            GROUP BY c.id ORDER BY c.name, c.id
            """,
            {"t": target, "c": collection_id},
        )
        return [CollectionVectors(*row) for row in cursor.fetchall()]


def searchable_models() -> list[str]:
    """The models whose vectors search reads: the configured one and any a collection still uses."""
    keys = {embeddings.active_key()}
    keys.update(
        Collection.objects.exclude(embedding_model="").values_list("embedding_model", flat=True).distinct()
    )
    usable = []
    for key in sorted(keys):
        if embeddings.resolvable(key):
            usable.append(key)
        else:
            logger.warning("vectors of embedding model %r cannot be queried (model not available)", key)
    return usable


def collections_to_reembed(target: str | None = None) -> list[int]:
    """Collections with chunks whose vectors are not yet of ``target`` (the configured model)."""
    target = target or embeddings.active_key()
    stale = Chunk.objects.exclude(embedding_model=target).values("collection_id")
    pending = Collection.objects.filter(pk__in=stale) | Collection.objects.exclude(
        embedding_model=""
    ).exclude(embedding_model=target).filter(pk__in=Chunk.objects.values("collection_id"))
    return sorted(set(pending.values_list("pk", flat=True)))


def collections_pending_count(target: str | None = None) -> int:
    """How many collections are still searched with another model's vectors: a look at the collections table
    only, cheap enough for every health check (collections_to_reembed scans the chunks)."""
    target = target or embeddings.active_key()
    return Collection.objects.exclude(embedding_model__in=["", target]).count()
