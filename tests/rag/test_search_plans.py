"""What the search statement decides from the planner's statistics (BM25's N and document frequencies, the
lexical branch's plan) must not change what it finds: stale statistics in a small corpus, either plan."""

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


def test_both_lexical_plans_find_the_same_readable_chunks(
    alice: Any, bob: Any, collection_a: Collection, collection_b: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexical branch checks the collection either at each full-text match ("filter") or through the
    collection index ("bitmap"), by a cost estimate: the same chunks either way, never another collection's."""
    from rag.selectors import search

    notes = "\n\n".join(
        f"Vacation note {i}: team {i} plans its holiday schedule in week {i}." for i in range(60)
    )
    ingest_bytes(collection_b, bob, notes.encode(), "bob-notes.txt")
    for i in range(3):
        ingest_bytes(collection_a, alice, f"Holiday schedule {i}: vacation planning.".encode(), f"m{i}.txt")
    ingest_bytes(collection_a, alice, b"Vacation only.", "v.txt")
    # "holiday schedule week": no readable chunk has all three, so the loose side runs as well.
    for query in ("vacation schedule", "holiday schedule week", "planning"):
        found = []
        for cost in (1e-6, 1e9):  # every side "filter", every side "bitmap"
            monkeypatch.setattr(search, "HEAP_VISIT_COST", cost)
            hits = chunk_search(user=alice, query=query, k=20)
            assert {h.collection_id for h in hits} == {collection_a.pk}
            found.append([(h.chunk_id, h.text_rank) for h in hits])
        assert found[0] == found[1] and any(rank for _, rank in found[0]), query
