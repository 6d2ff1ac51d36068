"""Ingestion throughput: the whole pipeline vs. raw ``model.encode`` on the same texts.

    .venv/bin/python bench/ingest.py [--docs 40] [--words 1500]

The pipeline (read file → parse → normalise → detect language → chunk → embed → write chunks in one
transaction) runs in this process through rag.services.ingest.document_ingest, the function the Celery task
calls; the embedding model is warm for both measurements. Goal: ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time

from common import paragraph, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--words", type=int, default=1500, help="words per document")
    parser.add_argument("--language", default="en", help="declared language; empty: detected per document")
    parser.add_argument(
        "--profile", action="store_true", help="print where the pipeline's time goes (cProfile)"
    )
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model

    from governance.models import ProcessingRecord
    from inference import embeddings
    from rag.chunking import chunk_sections
    from rag.models import Collection, Document
    from rag.parsing import parse
    from rag.services.documents import document_create
    from rag.services.ingest import document_ingest, embedding_input

    rng = random.Random(7)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    collection, _ = Collection.objects.get_or_create(name="bench-ingest", defaults={"owner": user})
    Document.objects.filter(collection=collection).delete()

    texts = [
        "\n\n".join(paragraph(rng, 120) for _ in range(max(1, args.words // 120))).encode()
        for _ in range(args.docs)
    ]
    ProcessingRecord.objects.update_or_create(
        collection=collection,
        defaults={
            "purpose": "Benchmark: ingestion throughput on generated text",
            "legal_basis": "legitimate_interest",
            "data_subject_categories": ["none"],
            "data_categories": ["none"],
            "recipients": ["benchmark"],
            "retention_days": 30,
            "special_categories": False,
        },
    )
    documents = []
    for index, data in enumerate(texts):
        # The upload path (stored encrypted with its own data key); on_commit does not queue a task here
        # (no transaction in this script commits a Celery send: the bench ingests in-process below).
        document, _ = document_create(
            collection=collection,
            uploaded_by=user,
            stream=io.BytesIO(data),
            filename=f"doc{index}.txt",
            title=f"doc {index}",
            language=args.language,
        )
        documents.append(document)
    embeddings.embed(["warm-up"])  # load the model outside both timings

    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    for document in documents:
        result = document_ingest(document_id=document.pk, task_id="bench")
        assert result is not None and result.status == Document.Status.READY, result and result.error
    pipeline_s = time.perf_counter() - start
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    chunk_total = sum(Document.objects.filter(collection=collection).values_list("chunk_count", flat=True))

    inputs: list[str] = []
    for document, data in zip(documents, texts, strict=True):
        _, parsed = parse(data, document.original_filename)
        chunks = chunk_sections(parsed.sections, tokenizer=embeddings.tokenizer(), size=200, overlap=40)
        inputs.extend(embedding_input(title=document.title, chunk=chunk) for chunk in chunks)
    assert len(inputs) == chunk_total, (len(inputs), chunk_total)
    start = time.perf_counter()
    embeddings.embed(inputs, batch_size=32)  # the model's own encode, with its passage prompt
    raw_s = time.perf_counter() - start

    pipeline_rate, raw_rate = chunk_total / pipeline_s, chunk_total / raw_s
    print(
        f"corpus: {args.docs} documents x ~{args.words} words = {chunk_total} chunks (200 tokens, overlap 40)"
    )
    print(f"pipeline (parse+chunk+embed+store): {pipeline_s:6.2f} s  {pipeline_rate:7.1f} chunks/s")
    print(f"raw model.encode, same texts:       {raw_s:6.2f} s  {raw_rate:7.1f} chunks/s")
    print(f"ratio pipeline/raw: {pipeline_rate / raw_rate:.2f}  (goal >= 0.8)")
    Document.objects.filter(collection=collection).delete()


if __name__ == "__main__":
    main()
