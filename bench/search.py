"""Hybrid search latency (p50/p95) at 10k and 100k chunks, with the access filter in the SQL.

    .venv/bin/python bench/search.py [--sizes 10000 100000] [--queries 100]

Vectors are realistic, not random: a few hundred real embeddings (the active model's) of generated sentences,
mixed and perturbed (low-rank, like real corpora; random Gaussian vectors make HNSW look far worse than it
is). Chunk texts are ~150 words drawn from a Zipf-distributed 20k-word vocabulary, so full-text matching is
as selective as on real text; questions are 4-10 content words. The searching user may read 3 of 10
collections. Reported: latency of chunk_search end to end (query
embedding + one SQL statement), the query embedding alone, and vector recall@10 of the HNSW index against
an exact scan over the same readable chunks.
"""

from __future__ import annotations

import argparse
import io
import random
import time

import numpy as np
from common import Vocabulary, paragraph, percentile, setup_django

COLLECTIONS = 10
READABLE = 3
BLOCK = 20_000


def build(size: int, rng: random.Random, vocabulary: Vocabulary) -> None:
    """Replace every chunk with ``size`` generated ones. As the owner role: dropping and building the vector
    index is DDL, which the application role may not do (config.db_roles)."""
    from config.db_roles import as_owner

    with as_owner():
        _build(size, rng, vocabulary)


def _build(size: int, rng: random.Random, vocabulary: Vocabulary) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from inference import embeddings
    from rag.models import Chunk, Collection, Document
    from rag.services.vector_indexes import index_name

    owner, _ = get_user_model().objects.get_or_create(username="bench-owner")
    reader, _ = get_user_model().objects.get_or_create(username="bench-reader")
    Chunk.objects.all().delete()
    Document.objects.all().delete()
    Collection.objects.all().delete()
    collections = [
        Collection.objects.create(name=f"bench-{i}", owner=reader if i < READABLE else owner)
        for i in range(COLLECTIONS)
    ]
    documents = [
        Document.objects.create(
            collection=collections[i % COLLECTIONS],
            title=f"doc {i}",
            original_filename=f"d{i}.txt",
            mime_type="text/plain",
            sha256=f"{i:064d}",
            size_bytes=1,
            status="ready",
            uploaded_by=owner,
        )
        for i in range(max(COLLECTIONS, size // 50))
    ]
    base_texts = [paragraph(rng, 40) for _ in range(400)]
    base = embeddings.embed(base_texts)
    np_rng = np.random.default_rng(rng.randint(0, 2**31))

    key, dims = embeddings.active_key(), int(base.shape[1])
    index = index_name(key, dims)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # The model's partial HNSW index (rag.services.vector_indexes) is rebuilt after the load, as a bulk
        # load into an HNSW index is far slower than building it once.
        cursor.execute(f"DROP INDEX IF EXISTS {index}")
        with cursor.cursor.copy(
            "COPY rag_chunk (document_id, collection_id, ordinal, text, page, section, token_count, embedding, "
            "embedding_model, search_config) FROM STDIN"
        ) as copy:
            # In blocks, so that a million chunks never sit in memory at once (the same draws as in one go).
            for first in range(0, size, BLOCK):
                texts = vocabulary.texts(min(BLOCK, size - first), 150)
                buffer = io.StringIO()
                for i, text in enumerate(texts, start=first):
                    picks = np_rng.choice(len(base), size=3, replace=False)
                    weights = np_rng.dirichlet([1.0, 1.0, 1.0])
                    vector = weights @ base[picks] + np_rng.normal(0, 0.02, base.shape[1])
                    vector /= np.linalg.norm(vector)
                    document = documents[i % len(documents)]
                    buffer.write(
                        f"{document.pk}\t{document.collection_id}\t{i}\t{text}\t\\N\t\t60\t"
                        "[" + ",".join(f"{x:.6f}" for x in vector) + f"]\t{key}\tenglish\n"
                    )
                copy.write(buffer.getvalue())
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute(
            "UPDATE rag_document d SET chunk_count = c.n FROM (SELECT document_id, count(*) AS n FROM rag_chunk "
            "GROUP BY document_id) c WHERE c.document_id = d.id"
        )
        # The graph must fit in memory to be built quickly (~2.5 kB a 384-dim vector).
        cursor.execute(f"SET maintenance_work_mem = '{max(1024, size * 3 // 1000)}MB'")
        # The same index as rag.services.vector_indexes.index_create (expression, options, predicate).
        cursor.execute(
            f"CREATE INDEX {index} ON rag_chunk USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64) WHERE embedding_model = %s",
            [key],
        )
        # Settle the table as it would be in steady state (visibility map, statistics) so that autovacuum,
        # triggered by the bulk insert, does not run during the measurement.
        cursor.execute("VACUUM (ANALYZE) rag_chunk")
        index_s = time.perf_counter() - started
    print(f"  loaded {size} chunks in {load_s:.1f} s, HNSW index built (+ VACUUM ANALYZE) in {index_s:.1f} s")


def measure(size: int, queries: int, rng: random.Random, vocabulary: Vocabulary) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from inference import embeddings
    from rag.selectors import chunk_search

    embeddings.threads_limit(settings.EMBEDDING_WEB_THREADS)  # as config/gunicorn.py does in a web worker
    reader = get_user_model().objects.get(username="bench-reader")
    questions = [vocabulary.question(rng.randint(4, 10)) for _ in range(queries)]
    for question in questions[:5]:
        chunk_search(user=reader, query=question, k=10)  # warm caches

    total, embed_only = [], []
    for question in questions:
        started = time.perf_counter()
        hits = chunk_search(user=reader, query=question, k=10)
        total.append((time.perf_counter() - started) * 1000)
        assert len(hits) == 10
        started = time.perf_counter()
        embeddings.embed_query(question)
        embed_only.append((time.perf_counter() - started) * 1000)

    recalls = []
    # The model's vectors and the expression of its partial HNSW index (rag.services.vector_indexes).
    key, dims = embeddings.active_key(), len(embeddings.embed_query(questions[0]))
    readable_sql = (
        "SELECT id FROM rag_chunk WHERE collection_id IN (SELECT id FROM rag_collection WHERE owner_id = %s) "
        f"AND embedding_model = %s ORDER BY embedding::vector({dims}) <=> %s::vector({dims}) LIMIT 10"
    )
    # Each statement text is unique so psycopg's automatic prepared statements cannot reuse a plan made
    # under the other enable_indexscan setting.
    for number, question in enumerate(questions[:20]):
        literal = "[" + ",".join(f"{x:.7g}" for x in embeddings.embed_query(question)) + "]"
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(f"/* exact {number} */ {readable_sql}", [reader.pk, key, literal])
            exact = {row[0] for row in cursor.fetchall()}
            cursor.execute("COMMIT")
            cursor.execute("BEGIN")
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(f"SET LOCAL hnsw.ef_search = {settings.HNSW_EF_SEARCH}")
            cursor.execute(f"/* hnsw {number} */ {readable_sql}", [reader.pk, key, literal])
            approx = {row[0] for row in cursor.fetchall()}
            cursor.execute("COMMIT")
        recalls.append(len(exact & approx) / 10)

    print(
        f"  {size:>7} chunks: chunk_search p50 {percentile(total, 50):6.1f} ms  p95 {percentile(total, 95):6.1f} ms"
        f"  (query embedding alone p50 {percentile(embed_only, 50):5.1f} ms)"
        f"  vector recall@10 {sum(recalls) / len(recalls):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    setup_django()
    rng = random.Random(11)
    vocabulary = Vocabulary()
    from django.conf import settings

    print(
        f"hybrid search, k=10, user reads {READABLE} of {COLLECTIONS} collections, "
        f"hnsw.ef_search={settings.HNSW_EF_SEARCH}, EMBEDDING_WEB_THREADS={settings.EMBEDDING_WEB_THREADS}"
    )
    for size in args.sizes:
        build(size, rng, vocabulary)
        measure(size, args.queries, rng, vocabulary)


if __name__ == "__main__":
    main()
