"""Reads. Every selector takes the acting user and applies governance.access inside its query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from governance.access import readable_collection_ids_sql, readable_collections
from inference import embeddings
from rag.language import QUERY_CONFIGS
from rag.models import Collection, Document


class NotFound(Exception):
    """Missing, or not visible to this user: callers cannot tell which, on purpose."""


def collection_list(*, user: Any) -> QuerySet[Collection]:
    return readable_collections(user).order_by("name")


def collection_get(*, user: Any, ref: str | int) -> Collection:
    """By id or by name, among the collections the user can read."""
    collections = readable_collections(user)
    text = str(ref).strip()
    found = collections.filter(pk=int(text)).first() if text.isdigit() else None
    if found is None:
        found = collections.filter(name=text).first()
    if found is None:
        raise NotFound(f"Collection {text!r} not found.")
    return found


def document_list(*, user: Any, collection: Collection | None = None) -> QuerySet[Document]:
    documents = Document.objects.filter(collection__in=readable_collections(user)).select_related(
        "collection"
    )
    if collection is not None:
        documents = documents.filter(collection=collection)
    return documents.order_by("-created_at", "-id")


def document_get(*, user: Any, document_id: int) -> Document:
    document = document_list(user=user).filter(pk=document_id).first()
    if document is None:
        raise NotFound(f"Document {document_id} not found.")
    return document


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: int
    collection_id: int
    title: str
    page: int | None
    section: str
    text: str
    score: float
    vector_rank: int | None
    text_rank: int | None
    similarity: float | None


RRF_K = 60

# One statement: access filter, HNSW cosine top-N, full-text top-N, reciprocal-rank fusion.
# hnsw.iterative_scan lets the index keep scanning until enough rows pass the access filter (pgvector 0.8),
# so a user with access to a small collection still gets k results and never another collection's.
_HYBRID_SQL = """
WITH allowed AS ({allowed}),
query AS (
    SELECT COALESCE((
        SELECT string_agg(quote_literal(lexeme), ' | ')
        FROM (SELECT DISTINCT unnest(tsvector_to_array(to_tsvector(cfg::regconfig, %(q)s))) AS lexeme
              FROM unnest(%(configs)s::text[]) AS cfg) lexemes
    ), '')::tsquery AS tsq
),
vector_hits AS (
    SELECT id, row_number() OVER (ORDER BY distance) AS rank, 1 - distance AS similarity
    FROM (
        SELECT ch.id, ch.embedding <=> %(vec)s::vector AS distance
        FROM rag_chunk ch
        WHERE ch.collection_id IN (SELECT id FROM allowed) {scope}
        ORDER BY ch.embedding <=> %(vec)s::vector
        LIMIT %(candidates)s
    ) nearest
),
text_hits AS (
    SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM (
        SELECT ch.id, ts_rank_cd(ch.search_vector, query.tsq, 1) AS score
        FROM rag_chunk ch, query
        WHERE ch.search_vector @@ query.tsq
          AND ch.collection_id IN (SELECT id FROM allowed) {scope}
        ORDER BY score DESC, ch.id
        LIMIT %(candidates)s
    ) matched
),
fused AS (
    SELECT COALESCE(v.id, t.id) AS id, v.rank AS vector_rank, t.rank AS text_rank, v.similarity,
           COALESCE(1.0 / (%(rrf_k)s + v.rank), 0) + COALESCE(1.0 / (%(rrf_k)s + t.rank), 0) AS score
    FROM vector_hits v FULL OUTER JOIN text_hits t ON v.id = t.id
)
SELECT ch.id, ch.document_id, ch.collection_id, d.title, ch.page, ch.section, ch.text,
       f.score, f.vector_rank, f.text_rank, f.similarity
FROM fused f
JOIN rag_chunk ch ON ch.id = f.id
JOIN rag_document d ON d.id = ch.document_id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, ch.id
LIMIT %(k)s
"""


def chunk_search(
    *,
    user: Any,
    query: str,
    k: int = 10,
    collection_ids: list[int] | None = None,
    candidates: int | None = None,
    ef_search: int = 100,
) -> list[SearchHit]:
    """Hybrid search over the chunks ``user`` may read; ``collection_ids`` narrows further, never widens."""
    query = query.strip()
    if not query:
        return []
    candidates = candidates or max(4 * k, 40)
    vector = embeddings.embed_query(query)
    allowed_sql, allowed_params = readable_collection_ids_sql(user)
    scope = "AND ch.collection_id = ANY(%(scope)s)" if collection_ids is not None else ""
    params: dict[str, Any] = {
        "q": query,
        "configs": list(QUERY_CONFIGS),
        "vec": "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]",
        "candidates": candidates,
        "rrf_k": RRF_K,
        "k": k,
        "scope": collection_ids or [],
    }
    # The access SQL uses positional %s; turn it into named parameters for this statement.
    for index, value in enumerate(allowed_params):
        params[f"acl{index}"] = value
    allowed = allowed_sql
    for index in range(len(allowed_params)):
        allowed = allowed.replace("%s", f"%(acl{index})s", 1)
    sql = _HYBRID_SQL.format(allowed=allowed, scope=scope)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', %s, true)",
            [str(ef_search)],
        )
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        SearchHit(
            chunk_id=row[0],
            document_id=row[1],
            collection_id=row[2],
            title=row[3],
            page=row[4],
            section=row[5],
            text=row[6],
            score=float(row[7]),
            vector_rank=row[8],
            text_rank=row[9],
            similarity=float(row[10]) if row[10] is not None else None,
        )
        for row in rows
    ]
