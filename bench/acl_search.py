"""Permission-aware retrieval at 100k chunks: the searcher may read 1 %, 10 % or 50 % of the corpus.

    .venv/bin/python bench/acl_search.py [--size 100000] [--queries 100] [--reuse] [--recall-queries N]

For each share: vector recall@10 of the ACL-filtered search (``chunk_vector_search``: the vector half of
``chunk_search``, the SQL it runs) against an exact filtered scan, how many rows come back, and its
p50/p95 latency next to an unfiltered pgvector HNSW top-10 on the same table (the statement alone, query vector
precomputed), plus ``chunk_search`` end to end (query embedding + hybrid statement) and, separately, the query
embedding alone; the 1-minute load average at the end of each share's latency passes. Up to
SEARCH_EXACT_MAX_CHUNKS readable chunks are scanned exactly; above that the HNSW iterative scan runs.
Corpus as in bench/search.py: realistic (low-rank) real embeddings of the active model, Zipf-distributed
texts; 100 collections of equal size; the searcher owns none and gets read grants. ``--reuse`` keeps a corpus
of the right size that an earlier run loaded (a million chunks take the better part of an hour to load and
index here); the questions are the same either way.
"""

from __future__ import annotations

import argparse
import os
import random
import time

import numpy as np
import search as corpus  # bench/search.py: the corpus builder
from common import Vocabulary, percentile, setup_django

COLLECTIONS = 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.10, 0.50])
    parser.add_argument(
        "--reuse", action="store_true", help="keep the corpus already loaded when it has --size chunks"
    )
    parser.add_argument(
        "--recall-queries", type=int, help="exact scans for recall on the first N queries only"
    )
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    from governance.models import CollectionGrant
    from inference import embeddings
    from rag.models import Chunk, Collection
    from rag.selectors import chunk_search, chunk_vector_search

    corpus.COLLECTIONS, corpus.READABLE = COLLECTIONS, 0
    if args.reuse and Chunk.objects.count() == args.size and Collection.objects.count() == COLLECTIONS:
        print(f"  reusing the {args.size} chunks already loaded")
    else:
        corpus.build(args.size, random.Random(13), Vocabulary())
    # chunk_search runs in a web worker, whose torch threads config/gunicorn.py caps (after the build, which
    # embeds passages in a batch like a Celery worker).
    embeddings.threads_limit(settings.EMBEDDING_WEB_THREADS)
    searcher, _ = get_user_model().objects.get_or_create(username="bench-acl")
    collections = list(Collection.objects.order_by("pk"))
    # Questions of their own random stream: the same whether the corpus was just built or reused.
    rng, vocabulary = random.Random(17), Vocabulary()
    vocabulary.rng = np.random.default_rng(17)
    questions = [vocabulary.question(rng.randint(4, 10)) for _ in range(args.queries)]
    vectors = [embeddings.embed_query(q) for q in questions]
    literals = ["[" + ",".join(f"{x:.7g}" for x in v) + "]" for v in vectors]
    # The model's vectors and the expression of its partial HNSW index (rag.services.vector_indexes).
    key, dims = embeddings.active_key(), len(vectors[0])
    distance = f"embedding::vector({dims}) <=> %s::vector({dims})"

    def unfiltered(literal: str) -> float:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"SET LOCAL hnsw.ef_search = {settings.HNSW_EF_SEARCH}")
            cursor.execute(
                f"SELECT id FROM rag_chunk WHERE embedding_model = %s ORDER BY {distance} LIMIT 10",
                [key, literal],
            )
            cursor.fetchall()
            cursor.execute("COMMIT")
        return (time.perf_counter() - started) * 1000

    print(
        f"{args.size} chunks in {COLLECTIONS} collections, k=10, hnsw.ef_search={settings.HNSW_EF_SEARCH}, "
        f"exact scan up to {settings.SEARCH_EXACT_MAX_CHUNKS} readable chunks, {args.queries} queries, "
        f"EMBEDDING_WEB_THREADS={settings.EMBEDDING_WEB_THREADS}"
    )
    print(
        "readable  path   recall@10  rows(min)  filtered p50/p95 ms  unfiltered p50/p95 ms  p95 ratio"
        "  chunk_search p50/p95 ms  of it: embedding p50/p95 ms  load"
    )
    for share in args.shares:
        CollectionGrant.objects.filter(user=searcher).delete()
        chosen = collections[: max(1, round(share * COLLECTIONS))]
        CollectionGrant.objects.bulk_create(
            CollectionGrant(collection=c, user=searcher, permission="read") for c in chosen
        )
        readable = [c.pk for c in chosen]
        for literal in literals[:5]:
            unfiltered(literal)
            chunk_vector_search(user=searcher, vector=vectors[0], k=10)
        # Latency passes first, alternating filtered and unfiltered so both see the same cache state; the
        # exact scans of the recall pass read the whole readable set and would evict the index otherwise.
        filtered_ms, plain_ms, full_ms, embed_ms, recalls, rows = [], [], [], [], [], []
        results = []
        for vector, literal in zip(vectors, literals, strict=True):
            started = time.perf_counter()
            hits = chunk_vector_search(user=searcher, vector=vector, k=10)
            filtered_ms.append((time.perf_counter() - started) * 1000)
            results.append(hits)
            rows.append(len(hits))
            plain_ms.append(unfiltered(literal))
        for question in questions:
            started = time.perf_counter()
            chunk_search(user=searcher, query=question, k=10)
            full_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            embeddings.embed_query(question)  # the part of chunk_search before its statement
            embed_ms.append((time.perf_counter() - started) * 1000)
        load = os.getloadavg()[0]
        checked = list(zip(literals, results, strict=True))[: args.recall_queries or len(results)]
        for number, (literal, hits) in enumerate(checked):
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute(
                    f"/* exact {share} {number} */ SELECT id FROM rag_chunk WHERE collection_id = ANY(%s) "
                    f"AND embedding_model = %s ORDER BY {distance} LIMIT 10",
                    [readable, key, literal],
                )
                exact = {row[0] for row in cursor.fetchall()}
                cursor.execute("COMMIT")
            recalls.append(len(exact & {h[0] for h in hits}) / 10)
        readable_chunks = round(share * args.size)
        path = "exact" if readable_chunks <= settings.SEARCH_EXACT_MAX_CHUNKS else "hnsw"
        ratio = percentile(filtered_ms, 95) / percentile(plain_ms, 95)
        print(
            f"{share:>7.0%}  {path:<5}  {sum(recalls) / len(recalls):>9.3f}  {min(rows):>9}"
            f"  {percentile(filtered_ms, 50):>8.1f} / {percentile(filtered_ms, 95):>6.1f}"
            f"  {percentile(plain_ms, 50):>10.1f} / {percentile(plain_ms, 95):>6.1f}  {ratio:>9.2f}"
            f"  {percentile(full_ms, 50):>12.1f} / {percentile(full_ms, 95):>6.1f}"
            f"  {percentile(embed_ms, 50):>17.1f} / {percentile(embed_ms, 95):>6.1f}  {load:>4.1f}"
        )


if __name__ == "__main__":
    main()
