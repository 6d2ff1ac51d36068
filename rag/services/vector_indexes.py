"""One partial HNSW index per embedding model and vector width (see rag.services.vectors).

Creating an index is DDL, which the application's database role may not do (config.db_roles): migration rag
0013 makes the bundled models' indexes, and ``manage.py migrate`` (as the owner) runs ``vector_indexes`` for
the configured model. At run time the service only checks that the index is there and says so when not
(search still works without it, by a sequential scan).
"""

from __future__ import annotations

import hashlib
import logging

from django.db import connection

logger = logging.getLogger(__name__)
_checked: set[tuple[str, int]] = set()


def index_name(key: str, dims: int) -> str:
    return f"chunk_hnsw_{hashlib.sha256(key.encode()).hexdigest()[:12]}_{int(dims)}"


def index_create(key: str, dims: int) -> bool:
    """Create ``key``'s index (as the owner role). Concurrently when no transaction is open, so writes go on
    while it scans the table. True when it was created, False when it existed."""
    if index_exists(key, dims):
        return False
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX {concurrently} IF NOT EXISTS {index_name(key, dims)} ON rag_chunk "  # noqa: S608 — name from a hash, width an int
            f"USING hnsw ((embedding::vector({int(dims)})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
            "WHERE embedding_model = %s",
            [key],
        )
    return True


def index_exists(key: str, dims: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
            [index_name(key, dims)],
        )
        return cursor.fetchone() is not None


def vector_index_check(key: str, dims: int) -> None:
    """Warn (once per process) when ``key``'s vectors have no index: ``manage.py migrate`` makes it."""
    if (key, dims) in _checked:
        return
    if not index_exists(key, dims):
        logger.warning(
            "embedding model %s (%d dims) has no vector index: run `manage.py migrate` (as the database owner) "
            "to create it; until then its vectors are searched by a sequential scan",
            key,
            dims,
        )
    _checked.add((key, dims))
