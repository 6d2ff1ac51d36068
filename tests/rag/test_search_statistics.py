"""BM25 in the search statement reads the planner's statistics (row count, most common lexemes); ranking must not
depend on how stale they are in a small corpus."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from rag.models import Collection
from rag.selectors import chunk_search
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("analysed", [False, True])
def test_bm25_counts_a_small_corpus_instead_of_trusting_a_stale_row_count(
    alice: Any, collection_a: Collection, analysed: bool
) -> None:
    if analysed:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE rag_chunk")  # of the empty table: reltuples 0, as autovacuum leaves it
    both = ingest_bytes(
        collection_a, alice, b"The quarantine procedure for returned goods. Invoice attached.", "b.txt"
    )
    ingest_bytes(collection_a, alice, b"Invoice for office chairs. Invoice number 1. Invoice total.", "c.txt")
    ingest_bytes(collection_a, alice, b"Quarantine note.", "s.txt")
    # With N taken as 0 (or as the largest document frequency, 3), IDF would be near zero for both words and the
    # chunk repeating "invoice" would outrank the one with both words.
    hits = chunk_search(user=alice, query="invoice quarantine", k=10)
    lexical = [h.document_id for h in sorted(hits, key=lambda h: h.text_rank or 10**6) if h.text_rank]
    assert lexical[0] == both.pk
