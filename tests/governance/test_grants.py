"""Grants to users and groups, read and upload separately, through the API; effective on the next request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from governance.apikeys import api_key_create
from governance.audit import SYSTEM
from governance.models import AuditEvent, CollectionGrant
from rag.models import Collection
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

Client = Callable[[Any], APIClient]
FACT = b"The Osprey budget for 2027 is 4.2 million euros, approved by the board in March."


def search_ids(client: APIClient, query: str = "Osprey budget") -> list[int]:
    response = client.post("/api/v1/search", {"query": query, "k": 5}, format="json")
    assert response.status_code == 200
    return [hit["collection_id"] for hit in response.json()["results"]]


def test_owner_grants_read_to_a_group_and_revokes_it(
    alice: Any, bob: Any, collection_a: Collection, client_for: Client
) -> None:
    ingest_bytes(collection_a, alice, FACT, "osprey.txt")
    team = Group.objects.create(name="finance")
    bob.groups.add(team)
    assert search_ids(client_for(bob)) == []

    url = f"/api/v1/collections/{collection_a.pk}/grants"
    created = client_for(alice).post(url, {"group": "finance", "permission": "read"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["group"] == "finance" and created.json()["permission"] == "read"
    assert search_ids(client_for(bob)) == [collection_a.pk]  # the next request sees it
    assert client_for(alice).get(url).json()["results"][0]["id"] == created.json()["id"]

    revoked = client_for(alice).delete(f"{url}/{created.json()['id']}")
    assert revoked.status_code == 204
    assert search_ids(client_for(bob)) == []  # and the next one no longer does
    assert list(AuditEvent.objects.values_list("action", flat=True).filter(action__startswith="grant.")) == [
        "grant.create",
        "grant.delete",
    ]


def test_read_and_upload_are_separate_permissions(
    alice: Any, bob: Any, collection_a: Collection, client_for: Client
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = f"/api/v1/collections/{collection_a.pk}/grants"
    assert (
        client_for(alice).post(url, {"user": "bob", "permission": "upload"}, format="json").status_code == 201
    )
    upload = client_for(bob).post(
        "/api/v1/documents",
        {
            "file": SimpleUploadedFile("drop.txt", b"Uploaded by an ingestion system."),
            "collection": collection_a.pk,
        },
        format="multipart",
    )
    assert upload.status_code == 202, upload.content
    assert client_for(bob).get(f"/api/v1/documents/{upload.json()['id']}").status_code == 404  # cannot read
    assert (
        client_for(alice).post(url, {"user": "bob", "permission": "read"}, format="json").status_code == 201
    )
    assert client_for(bob).get(f"/api/v1/documents/{upload.json()['id']}").status_code == 200


def test_only_owners_and_administrators_manage_grants(
    alice: Any, bob: Any, carol: Any, collection_a: Collection, client_for: Client
) -> None:
    url = f"/api/v1/collections/{collection_a.pk}/grants"
    assert client_for(bob).get(url).status_code == 404  # bob cannot even know it exists
    CollectionGrant.objects.create(collection=collection_a, user=bob, permission="read")
    assert (
        client_for(bob).post(url, {"user": "carol", "permission": "read"}, format="json").status_code == 403
    )
    carol.is_staff = True
    carol.save(update_fields=["is_staff"])
    assert (
        client_for(carol).post(url, {"user": "carol", "permission": "read"}, format="json").status_code == 201
    )
    bad = [
        {"permission": "read"},
        {"user": "bob", "group": "finance", "permission": "read"},
        {"user": "nobody", "permission": "read"},
        {"user": "bob", "permission": "admin"},
        {"user": "bob", "permission": "read"},  # exists already
    ]
    for payload in bad:
        assert client_for(alice).post(url, payload, format="json").status_code == 400, payload
    assert APIClient().get(url).status_code == 401


def test_the_admin_creates_and_deletes_grants_through_the_audited_service(
    client: Any, admin_user: Any, bob: Any, collection_a: Collection
) -> None:
    client.force_login(admin_user)
    added = client.post(
        "/admin/governance/collectiongrant/add/",
        {"collection": collection_a.pk, "user": bob.pk, "permission": "read"},
    )
    assert added.status_code == 302, added.content
    first = CollectionGrant.objects.get(user=bob, permission="read")
    assert first.granted_by == admin_user
    team = Group.objects.create(name="finance")
    client.post(
        "/admin/governance/collectiongrant/add/",
        {"collection": collection_a.pk, "group": team.pk, "permission": "read"},
    )
    second = CollectionGrant.objects.get(group=team)
    # An API key's service user gets its collections with the key, never through a grant.
    key, _secret = api_key_create(
        name="etl", collection_ids=[], actions=["upload"], created_by=admin_user, actor=SYSTEM
    )
    refused = client.post(
        "/admin/governance/collectiongrant/add/",
        {"collection": collection_a.pk, "user": key.service_user_id, "permission": "read"},
    )
    assert refused.status_code == 200 and "API keys get their collections" in refused.content.decode()

    client.post(f"/admin/governance/collectiongrant/{first.pk}/delete/", {"post": "yes"})
    client.post(
        "/admin/governance/collectiongrant/",
        {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"},
    )
    assert not CollectionGrant.objects.exists()
    events = AuditEvent.objects.filter(action__startswith="grant.").order_by("seq")
    assert [(e.action, e.target_id, e.role) for e in events] == [
        ("grant.create", str(first.pk), "admin"),
        ("grant.create", str(second.pk), "admin"),
        ("grant.delete", str(first.pk), "admin"),
        ("grant.delete", str(second.pk), "admin"),
    ]
