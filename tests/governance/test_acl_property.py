"""Permission-aware retrieval as a property: over random corpora (which collection each chunk lands in),
random grants (to users and to groups: read, upload or special), random special-category flags and random
searchers, search never returns a chunk from a collection the searcher cannot read, nor a special-category
chunk without a ``special`` grant on its collection, and returns k results whenever k visible chunks exist.

1,000 examples in the default run; ``ACL_EXAMPLES=10000 pytest -m exhaustive`` runs the long one.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.models import CollectionGrant
from inference import embeddings
from rag.models import Chunk, Collection, Document
from rag.selectors import chunk_search

pytestmark = pytest.mark.django_db

USERS = ["u0", "u1", "u2", "u3"]
COLLECTIONS = 6
TOPICS = [
    "vacation days and holiday planning for the team",
    "password rotation rules for the VPN",
    "expense claims for travel and hotels",
    "fire safety and the emergency exits",
    "onboarding laptop and badge on the first day",
    "quarterly budget approval by the board",
]
QUERIES = ["vacation planning", "password rules", "hotel expenses", "emergency exit", "budget"]
CHUNKS = 48


@pytest.fixture
def world(django_user_model: Any) -> dict[str, Any]:
    users = {name: django_user_model.objects.create_user(username=name) for name in USERS}
    groups = {name: Group.objects.create(name=name) for name in ("g-finance", "g-it")}
    collections = [
        Collection.objects.create(name=f"c{i}", owner=users[USERS[i % 3]]) for i in range(COLLECTIONS)
    ]
    documents = [
        Document.objects.create(
            collection=c, title=c.name, original_filename="x.txt", mime_type="text/plain", sha256=f"{i:064d}",
            size_bytes=1, status=Document.Status.READY, language="en",
        )
        for i, c in enumerate(collections)
    ]  # fmt: skip
    texts = [f"{TOPICS[i % len(TOPICS)]} (note {i})" for i in range(CHUNKS)]
    vectors = embeddings.embed(texts)
    chunks = Chunk.objects.bulk_create(
        Chunk(
            document=documents[0], collection=collections[0], ordinal=i, text=text, token_count=10,
            embedding=vector, embedding_model=embeddings.active_key(), search_config="english",
        )
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    )  # fmt: skip
    return {
        "users": users,
        "groups": groups,
        "collections": collections,
        "documents": documents,
        "chunks": chunks,
    }


grant_strategy = st.tuples(
    st.sampled_from(["user", "group"]),
    st.integers(0, len(USERS) - 1),
    st.integers(0, COLLECTIONS - 1),
    st.sampled_from(["read", "upload", "special"]),
)


def check(world: dict[str, Any], data: st.DataObject) -> None:
    users, groups, collections, documents = (
        world["users"],
        world["groups"],
        world["collections"],
        world["documents"],
    )
    placement = data.draw(st.lists(st.integers(0, COLLECTIONS - 1), min_size=CHUNKS, max_size=CHUNKS))
    special = data.draw(st.lists(st.booleans(), min_size=CHUNKS, max_size=CHUNKS))
    grants = data.draw(st.lists(grant_strategy, max_size=8))
    members = data.draw(st.lists(st.tuples(st.integers(0, len(USERS) - 1), st.sampled_from(list(groups)))))
    searcher = users[USERS[data.draw(st.integers(0, len(USERS) - 1))]]
    k = data.draw(st.integers(1, 12))
    query = data.draw(st.sampled_from(QUERIES))
    with transaction.atomic():
        for index, chunk in enumerate(world["chunks"]):
            target = placement[index]
            Chunk.objects.filter(pk=chunk.pk).update(
                collection=collections[target],
                document=documents[target],
                special_categories=["health"] if special[index] else [],
            )
        for who, user_index, collection_index, permission in set(grants):
            principal = (
                {"user": users[USERS[user_index]]}
                if who == "user"
                else {"group": list(groups.values())[user_index % len(groups)]}
            )
            CollectionGrant.objects.get_or_create(
                collection=collections[collection_index], permission=permission, **principal
            )
        for user_index, group in set(members):
            users[USERS[user_index]].groups.add(groups[group])

        searcher_groups = set(searcher.groups.values_list("pk", flat=True))
        readable = (
            {c.pk for c in collections if c.owner_id == searcher.pk}
            | set(
                CollectionGrant.objects.filter(permission="read")
                .filter(user=searcher)
                .values_list("collection_id", flat=True)
            )
            | set(
                CollectionGrant.objects.filter(permission="read", group__in=searcher_groups).values_list(
                    "collection_id", flat=True
                )
            )
        )
        special_granted = readable & (
            set(
                CollectionGrant.objects.filter(permission="special")
                .filter(user=searcher)
                .values_list("collection_id", flat=True)
            )
            | set(
                CollectionGrant.objects.filter(permission="special", group__in=searcher_groups).values_list(
                    "collection_id", flat=True
                )
            )
        )
        visible = {
            chunk.pk
            for index, chunk in enumerate(world["chunks"])
            if collections[placement[index]].pk in readable
            and (not special[index] or collections[placement[index]].pk in special_granted)
        }

        hits = chunk_search(user=searcher, query=query, k=k)
        assert {hit.collection_id for hit in hits} <= readable
        assert {hit.chunk_id for hit in hits} <= visible
        assert len(hits) == min(k, len(visible)), (len(hits), k, len(visible))
        transaction.set_rollback(True)


# 1,000 examples take about a minute on an idle 2-core machine, 4.5 min on a busy one: the suite's 600 s per
# test would fail a slower machine, not the code. This bound is only a guard against a hang.
@pytest.mark.timeout(1800)
@settings(
    max_examples=int(os.environ.get("ACL_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_search_never_leaks_and_always_fills_k(world: dict[str, Any], data: st.DataObject) -> None:
    check(world, data)


@pytest.mark.exhaustive
@pytest.mark.timeout(3600)  # 10,000 examples take ~10 min on 2 cores: past the suite's 600 s per test
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_search_never_leaks_and_always_fills_k_exhaustively(
    world: dict[str, Any], data: st.DataObject
) -> None:
    check(world, data)


def test_a_near_duplicate_restricted_document_is_never_returned_at_k1(
    world: dict[str, Any],
) -> None:
    """The best match for the query sits in a collection the searcher cannot read, its near-twin in one they
    can: at k=1 the answer is the readable twin, never the restricted one."""
    users, collections, documents = world["users"], world["collections"], world["documents"]
    text = "The Merlin acquisition price is 212 million euros, signed on 3 June."
    twin = "The Merlin acquisition price is 212 million euros; signed 3 June."
    secret_vector, twin_vector = embeddings.embed([text, twin])
    restricted = Chunk.objects.create(
        document=documents[1], collection=collections[1], ordinal=999, text=text, token_count=12,
        embedding=secret_vector, embedding_model=embeddings.active_key(), search_config="english",
    )  # fmt: skip
    allowed = Chunk.objects.create(
        document=documents[0], collection=collections[0], ordinal=998, text=twin, token_count=12,
        embedding=twin_vector, embedding_model=embeddings.active_key(), search_config="english",
    )  # fmt: skip
    u0 = users["u0"]  # owns c0 and c3, not c1
    assert collections[1].owner_id != u0.pk
    (hit,) = chunk_search(user=u0, query=text, k=1)
    assert hit.chunk_id == allowed.pk != restricted.pk
