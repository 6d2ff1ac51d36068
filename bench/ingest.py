"""Ingestion throughput: the whole pipeline vs. raw ``model.encode`` on the same texts.

    .venv/bin/python bench/ingest.py [--docs 40] [--words 1500]

The pipeline (read file → parse → normalise → detect language → chunk → embed → write chunks in one
transaction) runs in this process through rag.services.ingest.document_ingest, the function the Celery task
calls; the embedding model is warm for both measurements. Goal: ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import io
import random
import time

from common import paragraph, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--words", type=int, default=1500, help="words per document")
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model

    from inference import embeddings
    from rag import storage
    from rag.chunking import chunk_sections
    from rag.models import Collection, Document
    from rag.parsing import parse
    from rag.services.ingest import document_ingest, embedding_input

    rng = random.Random(7)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    collection, _ = Collection.objects.get_or_create(name="bench-ingest", defaults={"owner": user})
    Document.objects.filter(collection=collection).delete()

    texts = [
        "\n\n".join(paragraph(rng, 120) for _ in range(max(1, args.words // 120))).encode()
        for _ in range(args.docs)
    ]
    documents = []
    for index, data in enumerate(texts):
        stored = storage.store(io.BytesIO(data), suffix=".txt")
        documents.append(
            Document.objects.create(
                collection=collection,
                title=f"doc {index}",
                original_filename=f"doc{index}.txt",
                mime_type="text/plain",
                sha256=stored.sha256,
                size_bytes=stored.size,
                file_path=stored.relative_path,
                uploaded_by=user,
                language="en",
            )
        )
    embeddings.embed(["warm-up"])  # load the model outside both timings

    start = time.perf_counter()
    for document in documents:
        result = document_ingest(document_id=document.pk, task_id="bench")
        assert result is not None and result.status == Document.Status.READY, result and result.error
    pipeline_s = time.perf_counter() - start
    chunk_total = sum(Document.objects.filter(collection=collection).values_list("chunk_count", flat=True))

    inputs: list[str] = []
    for document, data in zip(documents, texts, strict=True):
        _, parsed = parse(data, document.original_filename)
        chunks = chunk_sections(parsed.sections, tokenizer=embeddings.tokenizer(), size=200, overlap=40)
        inputs.extend(embedding_input(title=document.title, chunk=chunk) for chunk in chunks)
    assert len(inputs) == chunk_total, (len(inputs), chunk_total)
    start = time.perf_counter()
    embeddings.get_model().encode(inputs, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    raw_s = time.perf_counter() - start

    pipeline_rate, raw_rate = chunk_total / pipeline_s, chunk_total / raw_s
    print(
        f"corpus: {args.docs} documents x ~{args.words} words = {chunk_total} chunks (200 tokens, overlap 40)"
    )
    print(f"pipeline (parse+chunk+embed+store): {pipeline_s:6.2f} s  {pipeline_rate:7.1f} chunks/s")
    print(f"raw model.encode, same texts:       {raw_s:6.2f} s  {raw_rate:7.1f} chunks/s")
    print(f"ratio pipeline/raw: {pipeline_rate / raw_rate:.2f}  (goal >= 0.8)")
    Document.objects.filter(collection=collection).delete()
    for document in documents:
        storage.delete(document.file_path)


if __name__ == "__main__":
    main()
