from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.models import CollectionGrant
from inference import embeddings
from rag.models import Collection
from rag.selectors import chunk_search
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

HR = (
    "Annual leave. Every employee is entitled to twenty working days of paid vacation per calendar year. "
    "Unused vacation days may be carried over until March."
)
IT = (
    "Password rules. Passwords must be at least fourteen characters long and are rotated every ninety days. "
    "Multi-factor authentication is mandatory for remote access."
)
FIN = "Expense claims. Receipts for travel expenses must be submitted within thirty days. Claim code XJ-4411."


@pytest.fixture
def corpus(alice: Any, bob: Any, collection_a: Collection, collection_b: Collection) -> dict[str, Any]:
    return {
        "hr": ingest_bytes(collection_a, alice, HR.encode(), "leave.txt"),
        "it": ingest_bytes(collection_a, alice, IT.encode(), "passwords.txt"),
        "fin": ingest_bytes(collection_b, bob, FIN.encode(), "expenses.txt"),
    }


def test_the_right_document_comes_first(alice: Any, corpus: dict[str, Any]) -> None:
    hits = chunk_search(user=alice, query="how many vacation days do I get per year?", k=5)
    assert hits[0].document_id == corpus["hr"].pk
    hits = chunk_search(user=alice, query="how long must my password be", k=5)
    assert hits[0].document_id == corpus["it"].pk


def test_scores_and_contributing_ranks_are_returned(alice: Any, corpus: dict[str, Any]) -> None:
    hits = chunk_search(user=alice, query="vacation days", k=5)
    top = hits[0]
    assert top.vector_rank == 1 and top.text_rank == 1
    # Weighted RRF: an English question (no Turkish letters) weighs the full-text rank at TEXT_WEIGHT.
    from rag.selectors.search import RRF_K, TEXT_WEIGHT, TEXT_WEIGHT_TURKISH

    assert top.score == pytest.approx((1 + TEXT_WEIGHT) / (RRF_K + 1))
    assert top.text_score is not None and top.text_score > 0
    turkish = chunk_search(user=alice, query="vacation days günü", k=5)[0]
    if turkish.vector_rank == 1 and turkish.text_rank == 1:
        assert turkish.score == pytest.approx((1 + TEXT_WEIGHT_TURKISH) / (RRF_K + 1))
    assert 0 < (top.similarity or 0) <= 1
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_full_text_finds_exact_codes(bob: Any, corpus: dict[str, Any]) -> None:
    hits = chunk_search(user=bob, query="XJ-4411", k=5)
    assert hits[0].document_id == corpus["fin"].pk
    assert hits[0].text_rank == 1


def test_user_without_grant_never_sees_chunk(bob: Any, corpus: dict[str, Any]) -> None:
    hits = chunk_search(user=bob, query=HR, k=50)
    assert {h.document_id for h in hits} == {corpus["fin"].pk}


def test_collection_scope_narrows_but_never_widens(
    bob: Any, collection_a: Collection, corpus: dict[str, Any]
) -> None:
    assert chunk_search(user=bob, query=HR, k=50, collection_ids=[collection_a.pk]) == []


def test_a_grant_opens_the_collection(carol: Any, collection_a: Collection, corpus: dict[str, Any]) -> None:
    assert chunk_search(user=carol, query="vacation", k=5) == []
    CollectionGrant.objects.create(
        collection=collection_a, user=carol, permission=CollectionGrant.Permission.READ
    )
    assert chunk_search(user=carol, query="vacation", k=5)[0].document_id == corpus["hr"].pk


def test_search_runs_a_fixed_number_of_queries(
    alice: Any, corpus: dict[str, Any], django_assert_num_queries: Any
) -> None:
    chunk_search(user=alice, query="warm up the model", k=5)
    # the embedding models in use, savepoint, set_config, the hybrid statement, release: independent of
    # collections and hits.
    with django_assert_num_queries(5):
        chunk_search(user=alice, query="vacation", k=10)


def test_small_collection_still_gets_results_among_many_foreign_chunks(
    alice: Any, bob: Any, collection_a: Collection, collection_b: Collection
) -> None:
    many = "\n\n".join(
        f"Vacation note {i}: team {i} plans its holiday schedule in week {i}." for i in range(150)
    )
    ingest_bytes(collection_b, bob, many.encode(), "bob-notes.txt")
    mine = ingest_bytes(collection_a, alice, b"My own note about vacation planning.", "mine.txt")
    hits = chunk_search(user=alice, query="vacation schedule", k=10)
    assert [h.document_id for h in hits] == [mine.pk]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    grants=st.lists(
        st.tuples(st.sampled_from(["alice", "bob", "carol"]), st.sampled_from(["A", "B"])), max_size=4
    ),
    searcher=st.sampled_from(["alice", "bob", "carol"]),
    query=st.sampled_from(["vacation", "password", "expenses XJ-4411", "days", "rules for claims"]),
)
def test_hits_only_ever_come_from_readable_collections(
    corpus: dict[str, Any],
    carol: Any,
    grants: list[tuple[str, str]],
    searcher: str,
    query: str,
    django_user_model: Any,
) -> None:
    users = {u.username: u for u in django_user_model.objects.filter(username__in=["alice", "bob", "carol"])}
    collections = {c.name: c for c in Collection.objects.all()}
    with transaction.atomic():
        for username, name in set(grants):
            CollectionGrant.objects.get_or_create(collection=collections[name], user=users[username])
        readable = {c.pk for c in collections.values() if c.owner_id == users[searcher].pk}
        readable |= {collections[name].pk for username, name in grants if username == searcher}
        hits = chunk_search(user=users[searcher], query=query, k=20)
        assert {h.collection_id for h in hits} <= readable
        transaction.set_rollback(True)


def test_corpus_wide_common_words_are_left_to_the_vector_search(alice: Any, collection_a: Collection) -> None:
    from django.db import connection

    from rag.selectors import COMMON_MIN_CHUNKS

    rare = ingest_bytes(collection_a, alice, b"Shipments to Zanzibar need form Z-12.", "rare.txt")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO rag_chunk (document_id, collection_id, ordinal, text, section, token_count, embedding,"
            " embedding_model, search_config) SELECT %s, %s, 1000 + n, 'boilerplate footer text number ' || n, '',"
            " 5, array_fill(0.051, ARRAY[384])::vector, %s, 'english' FROM generate_series(1, %s) AS n",
            [rare.pk, collection_a.pk, embeddings.active_key(), COMMON_MIN_CHUNKS + 100],
        )
        cursor.execute("ANALYZE rag_chunk")
    common = chunk_search(user=alice, query="boilerplate", k=10)
    assert common and all(hit.text_rank is None for hit in common)  # "boilerplate" is in ~100% of chunks
    hits = chunk_search(user=alice, query="boilerplate Zanzibar", k=10)
    text_hits = [h for h in hits if h.text_rank is not None]
    assert [(h.text, h.text_rank) for h in text_hits] == [("Shipments to Zanzibar need form Z-12.", 1)]


def test_documents_in_other_languages_match_their_own_words(alice: Any, collection_a: Collection) -> None:
    german = ingest_bytes(
        collection_a,
        alice,
        "Die Häuser in der Altstadt stehen unter Denkmalschutz.".encode(),
        "de.txt",
        language="de",
    )
    hits = chunk_search(user=alice, query="Häuser", k=5)  # german stems it to "haus", simple does not
    assert (hits[0].document_id, hits[0].text_rank) == (german.pk, 1)


TURKISH = (
    "ISPARTA ŞUBESİ: Gül yağı üretimi Isparta'da yapılır. IŞIK SİSTEMLERİ depoyu aydınlatır. "
    "İstanbul merkez ofisi sözleşmeleri onaylar."
)


@pytest.mark.parametrize(
    "query",
    ["ısparta", "Isparta", "ISPARTA", "ışık", "IŞIK", "Işıklar", "istanbul", "İSTANBUL", "İstanbul'daki"],
)
def test_turkish_case_folding_matches_every_spelling(
    alice: Any, collection_a: Collection, query: str
) -> None:
    document = ingest_bytes(collection_a, alice, TURKISH.encode(), "subeler.txt", language="tr")
    other = ingest_bytes(
        collection_a, alice, b"Ankara ofisi bordrolari hazirlar.", "ankara.txt", language="tr"
    )
    hits = chunk_search(user=alice, query=query, k=5)
    lexical = [h.document_id for h in sorted(hits, key=lambda h: h.text_rank or 10**6) if h.text_rank]
    assert lexical[:1] == [document.pk], query
    assert other.pk not in lexical


def test_bm25_ranks_both_words_first_and_short_chunks_before_long(
    alice: Any, collection_a: Collection
) -> None:
    filler = " ".join(f"general{i} office text" for i in range(30))
    docs = {
        name: ingest_bytes(collection_a, alice, text.encode(), f"{name}.txt", language="en")
        for name, text in {
            "both": "The quarantine procedure for returned goods. Invoice attached.",
            "common1": "Invoice for office chairs. Invoice number 1. Invoice total.",
            "short": "Quarantine note.",
            "long": f"quarantine mentioned once in a long note. {filler}",
        }.items()
    }
    hits = chunk_search(user=alice, query="invoice quarantine", k=10)
    lexical = [h.document_id for h in sorted(hits, key=lambda h: h.text_rank or 10**6) if h.text_rank]
    assert lexical[0] == docs["both"].pk
    assert lexical.index(docs["short"].pk) < lexical.index(docs["long"].pk)  # length normalisation


def test_identifiers_weigh_more_than_words(alice: Any, collection_a: Collection) -> None:
    code = ingest_bytes(collection_a, alice, b"Error E4411 is raised when the payroll export fails.", "e.txt")
    prose = ingest_bytes(
        collection_a, alice, b"When the payroll export fails, check the payroll export settings.", "p.txt"
    )
    hits = chunk_search(user=alice, query="payroll export E4411", k=10)
    lexical = [h.document_id for h in sorted(hits, key=lambda h: h.text_rank or 10**6) if h.text_rank]
    assert lexical[0] == code.pk and prose.pk in lexical
