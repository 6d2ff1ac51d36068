"""Collection names are unique per owner (issue 13, item 16): "already exists" never reveals the name of a
collection the user cannot see, and names still resolve to the right collection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from governance.models import CollectionGrant
from rag import selectors
from rag.models import Collection
from tests.conftest import with_inventory

pytestmark = pytest.mark.django_db

Clients = Callable[[Any], APIClient]


@pytest.fixture
def alices_private(alice: Any) -> Collection:
    return with_inventory(Collection.objects.create(name="Layoffs 2026", owner=alice))


def test_bob_creating_a_collection_named_like_alices_private_one_does_not_learn_it_exists(
    alices_private: Collection, bob: Any, client_for: Clients
) -> None:
    created = client_for(bob).post("/api/v1/collections", {"name": "Layoffs 2026"}, format="json")
    assert created.status_code == 201 and created.json()["owner"] == "bob"
    web = Client()
    web.force_login(bob)
    page = web.post("/upload/", {"name": "Layoffs 2026"})  # the portal: bob's own name now, so taken
    assert page.status_code == 400 and "A collection of yours with this name already exists." in (
        page.content.decode()
    )
    # The refusal speaks about bob's own collections only; alice's is untouched and still invisible to him.
    again = client_for(bob).post("/api/v1/collections", {"name": "Layoffs 2026"}, format="json")
    assert again.status_code == 400
    assert again.json()["detail"] == "name: A collection of yours named 'Layoffs 2026' already exists."
    assert [c["owner"] for c in client_for(bob).get("/api/v1/collections").json()["results"]] == ["bob"]
    assert Collection.objects.filter(name="Layoffs 2026").count() == 2


def test_a_name_resolves_to_the_users_own_collection_first_and_is_never_guessed(
    alices_private: Collection, alice: Any, bob: Any, carol: Any
) -> None:
    bobs = Collection.objects.create(name="Layoffs 2026", owner=bob)
    assert selectors.collection_get(user=alice, ref="Layoffs 2026") == alices_private
    assert selectors.collection_get(user=bob, ref="Layoffs 2026") == bobs
    with pytest.raises(selectors.NotFound, match="not found"):
        selectors.collection_get(user=carol, ref="Layoffs 2026")
    CollectionGrant.objects.create(collection=bobs, user=carol, permission=CollectionGrant.Permission.READ)
    assert selectors.collection_get(user=carol, ref="Layoffs 2026") == bobs
    CollectionGrant.objects.create(
        collection=alices_private, user=carol, permission=CollectionGrant.Permission.READ
    )
    with pytest.raises(selectors.NotFound, match="Several collections you can access"):
        selectors.collection_get(user=carol, ref="Layoffs 2026")
    assert selectors.collection_get(user=carol, ref=str(bobs.pk)) == bobs
