"""API keys: created by administrators, shown once, stored hashed, scoped to collections and actions,
expirable, revocable (next request), rate-limited per key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import ApiKey, AuditEvent
from rag.models import Collection
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

Client = Callable[[Any], APIClient]


@pytest.fixture
def admin_client(alice: Any, client_for: Client) -> APIClient:
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    return client_for(alice)


def keyed(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def create(admin_client: APIClient, **payload: Any) -> dict[str, Any]:
    response = admin_client.post("/api/v1/api-keys", payload, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_a_key_is_shown_once_stored_hashed_and_scoped_to_its_collections(
    admin_client: APIClient, alice: Any, bob: Any, collection_a: Collection, collection_b: Collection
) -> None:
    cache.clear()
    ingest_bytes(collection_a, alice, b"The Heron warehouse opens at 06:00 on weekdays.", "heron.txt")
    ingest_bytes(collection_b, bob, b"The Heron warehouse in Izmir opens at 07:00.", "izmir.txt")
    body = create(admin_client, name="crm", collections=[collection_a.pk], actions=["search"])
    secret = body["key"]
    stored = ApiKey.objects.get(pk=body["id"])
    assert secret not in stored.key_hash and secret.startswith(f"em_{stored.prefix}_")
    assert "key" not in admin_client.get("/api/v1/api-keys").json()["results"][0]

    client = keyed(secret)
    hits = client.post("/api/v1/search", {"query": "Heron warehouse opens", "k": 5}, format="json")
    assert hits.status_code == 200, hits.content
    assert {h["collection_id"] for h in hits.json()["results"]} == {collection_a.pk}
    assert [c["id"] for c in client.get("/api/v1/collections").json()["results"]] == [collection_a.pk]
    assert list(AuditEvent.objects.filter(action="apikey.create").values_list("target_id", flat=True)) == [
        str(body["id"])
    ]


def test_actions_are_enforced(admin_client: APIClient, collection_a: Collection) -> None:
    cache.clear()
    searcher = keyed(create(admin_client, name="s", collections=[collection_a.pk], actions=["search"])["key"])
    upload = {"file": SimpleUploadedFile("x.txt", b"some text"), "collection": collection_a.pk}
    refused = searcher.post("/api/v1/documents", upload, format="multipart")
    assert refused.status_code == 403 and "not allowed to upload" in refused.json()["detail"]
    assert searcher.post("/api/v1/ask", {"question": "hello?"}, format="json").status_code == 403
    assert searcher.post("/api/v1/pii/analyze", {"text": "x"}, format="json").status_code == 403
    assert searcher.get("/api/v1/api-keys").status_code == 403

    uploader = keyed(create(admin_client, name="u", collections=[collection_a.pk], actions=["upload"])["key"])
    upload = {"file": SimpleUploadedFile("y.txt", b"other text"), "collection": collection_a.pk}
    assert uploader.post("/api/v1/documents", upload, format="multipart").status_code == 202
    assert uploader.post("/api/v1/search", {"query": "text"}, format="json").status_code == 403


def test_revoked_and_expired_keys_fail_on_the_next_request(
    admin_client: APIClient, collection_a: Collection
) -> None:
    cache.clear()
    body = create(admin_client, name="k", collections=[collection_a.pk], actions=["search"])
    client = keyed(body["key"])
    assert client.get("/api/v1/collections").status_code == 200
    assert admin_client.delete(f"/api/v1/api-keys/{body['id']}").status_code == 204
    revoked = client.get("/api/v1/collections")
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert AuditEvent.objects.filter(action="apikey.revoke").count() == 1

    later = create(
        admin_client,
        name="old",
        collections=[collection_a.pk],
        actions=["search"],
        expires_at=(timezone.now() + timedelta(hours=1)).isoformat(),
    )
    ApiKey.objects.filter(pk=later["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in keyed(later["key"]).get("/api/v1/collections").json()["detail"]
    assert keyed("em_nothing_here").get("/api/v1/collections").status_code == 401


def test_each_key_has_its_own_rate_limit(admin_client: APIClient, collection_a: Collection) -> None:
    cache.clear()
    # A day-long window: the three requests cannot drift out of it, however slow the machine.
    slow = keyed(
        create(admin_client, name="slow", collections=[collection_a.pk], actions=["search"], rate="2/day")[
            "key"
        ]
    )
    fast = keyed(create(admin_client, name="fast", collections=[collection_a.pk], actions=["search"])["key"])
    codes = [slow.get("/api/v1/collections").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert fast.get("/api/v1/collections").status_code == 200
    cache.clear()


def test_only_administrators_manage_keys(bob: Any, client_for: Client, collection_a: Collection) -> None:
    assert client_for(bob).get("/api/v1/api-keys").status_code == 403
    payload = {"name": "x", "collections": [collection_a.pk], "actions": ["search"]}
    assert client_for(bob).post("/api/v1/api-keys", payload, format="json").status_code == 403


def test_administrators_create_and_revoke_keys_in_django_admin(
    client: Any, admin_user: Any, collection_a: Collection
) -> None:
    from governance.models import CollectionGrant

    # A key carries only what its creator holds: the administrator needs upload on the collection itself.
    CollectionGrant.objects.create(collection=collection_a, user=admin_user, permission="upload")
    client.force_login(admin_user)
    response = client.post(
        "/admin/governance/apikey/add/",
        {
            "name": "etl",
            "rate": "60/min",
            "collection_choices": [collection_a.pk],
            "action_choices": ["upload"],
        },
        follow=True,
    )
    assert response.status_code == 200
    message = next(str(m) for m in response.context["messages"] if "shown once" in str(m))
    key = ApiKey.objects.get(name="etl")
    assert key.actions == ["upload"] and list(key.collections.all()) == [collection_a]
    secret = message.rsplit(" ", 1)[-1]
    assert keyed(secret).get("/api/v1/collections").status_code == 200
    client.post("/admin/governance/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert keyed(secret).get("/api/v1/collections").status_code == 401


def test_a_key_never_reaches_beyond_its_collections_or_through_other_credentials(
    admin_client: APIClient,
    alice: Any,
    collection_a: Collection,
    collection_b: Collection,
    client_for: Client,
) -> None:
    from governance.models import CollectionGrant, PersonalToken
    from governance.tokens import token_secret_new

    cache.clear()
    body = create(admin_client, name="crm", collections=[collection_a.pk], actions=["search"])
    key = ApiKey.objects.get(pk=body["id"])
    grant_url = f"/api/v1/collections/{collection_b.pk}/grants"
    refused = client_for(collection_b.owner).post(
        grant_url, {"user": key.service_user.username, "permission": "read"}, format="json"
    )
    assert refused.status_code == 400 and "API keys" in refused.json()["detail"]
    # Even a grant slipped in some other way (admin, SQL) does not widen the key's scope.
    CollectionGrant.objects.create(collection=collection_b, user=key.service_user, permission="read")
    listed = keyed(body["key"]).get("/api/v1/collections").json()["results"]
    assert [c["id"] for c in listed] == [collection_a.pk]
    # The service user's other credentials are refused: it acts only through its key.
    # (governance.tokens refuses to make one for it; a row slipped in some other way is refused too.)
    prefix, secret, key_hash = token_secret_new()
    PersonalToken.objects.create(user=key.service_user, prefix=prefix, key_hash=key_hash)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert other.get("/api/v1/collections").status_code == 403
