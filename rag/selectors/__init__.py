"""Reads of the document domain. Every selector takes the acting user and applies the access rule inside its
query (``access``): records (``records``), hybrid search (``search``). One exception, ``chunks_by_id``: the
audit trail's drill-down, which only compliance officers reach."""

from rag.selectors.access import (
    can_write,
    collection_ids_sql,
    inventory_collection,
    readable_collections,
    readable_scope,
    special_collections,
    writable_collections,
)
from rag.selectors.records import (
    HIDDEN_TITLE,
    NotFound,
    answer_get,
    answer_ratings,
    answers_shown,
    chunks_by_id,
    citations_shown,
    collection_get,
    collection_list,
    conversation_answers,
    conversation_get,
    conversation_history,
    conversation_list,
    document_chunks,
    document_get,
    document_list,
    document_titles_shown,
)
from rag.selectors.search import (
    COMMON_MIN_CHUNKS,
    SearchHit,
    chunk_search,
    chunk_vector_search,
)

__all__ = [
    "COMMON_MIN_CHUNKS",
    "HIDDEN_TITLE",
    "NotFound",
    "SearchHit",
    "answer_get",
    "answer_ratings",
    "answers_shown",
    "can_write",
    "chunk_search",
    "chunk_vector_search",
    "chunks_by_id",
    "citations_shown",
    "collection_get",
    "collection_ids_sql",
    "collection_list",
    "conversation_answers",
    "conversation_get",
    "conversation_history",
    "conversation_list",
    "document_chunks",
    "document_get",
    "document_list",
    "document_titles_shown",
    "inventory_collection",
    "readable_collections",
    "readable_scope",
    "special_collections",
    "writable_collections",
]
