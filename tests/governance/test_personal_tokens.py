"""Personal API tokens: shown once, stored hashed, expiring, revocable by their owner and administrators,
listed without their secret; no clear-text token table in the admin. API keys are minted only for
collections their creator manages and may read; disabled accounts get 401 everywhere."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from governance.apikeys import ApiKeyRefused, api_key_create
from governance.audit import SYSTEM
from governance.models import ApiKey, AuditEvent, CollectionGrant, PersonalToken
from governance.tokens import personal_token_create
from rag.models import Collection

pytestmark = pytest.mark.django_db

Client = Callable[[Any], APIClient]


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_a_token_is_shown_once_stored_hashed_listed_without_secret_and_revocable(
    client: Any, alice: Any, bob: Any
) -> None:
    client.force_login(alice)
    created = client.post("/api/v1/tokens", {"name": "laptop", "days": 7}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["token"]
    stored = PersonalToken.objects.get(pk=body["id"])
    assert secret.startswith(f"et_{stored.prefix}_") and secret not in stored.key_hash
    assert timedelta(days=6) < stored.expires_at - timezone.now() <= timedelta(days=7)

    tokens = with_token(secret)
    assert tokens.get("/api/v1/collections").status_code == 200
    listed = tokens.get("/api/v1/tokens").json()["results"]
    assert [t["id"] for t in listed] == [stored.pk] and "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    assert secret not in str(listed)
    # A token cannot mint tokens (a stolen one would outlive its expiry); another user cannot revoke it.
    assert tokens.post("/api/v1/tokens", {}, format="json").status_code == 403
    bob_client = APIClient()
    bob_client.force_login(bob)
    assert bob_client.delete(f"/api/v1/tokens/{stored.pk}").status_code == 404

    assert tokens.delete(f"/api/v1/tokens/{stored.pk}").status_code == 204
    assert tokens.get("/api/v1/collections").status_code == 401
    (made,) = AuditEvent.objects.filter(action="token.create")
    (revoked,) = AuditEvent.objects.filter(action="token.revoke")
    assert made.details["user_id"] == alice.pk and revoked.details["by_owner"] is True
    assert secret not in str(made.details)


def test_an_expired_token_is_refused(alice: Any) -> None:
    token, secret = personal_token_create(user=alice, days=1, actor=SYSTEM)
    assert with_token(secret).get("/api/v1/collections").status_code == 200
    PersonalToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = with_token(secret).get("/api/v1/collections")
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_tokens_expire_after_the_configured_days_by_default(alice: Any, settings: Any) -> None:
    settings.PERSONAL_TOKEN_DAYS = 30
    token, _secret = personal_token_create(user=alice, actor=SYSTEM)
    assert token.expires_at is not None
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)


def test_administrators_list_and_revoke_tokens_but_never_see_a_secret(
    client: Any, admin_user: Any, alice: Any
) -> None:
    token, secret = personal_token_create(user=alice, name="ci", actor=SYSTEM)
    client.force_login(admin_user)
    listing = client.get("/admin/governance/personaltoken/").content.decode()
    page = client.get(f"/admin/governance/personaltoken/{token.pk}/change/").content.decode()
    assert token.prefix in listing
    for html in (listing, page):
        assert secret not in html and token.key_hash not in html
    # DRF's clear-text token list is gone.
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('authtoken_token')")
        assert cursor.fetchone()[0] is None

    client.post("/admin/governance/personaltoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert with_token(secret).get("/api/v1/collections").status_code == 401
    (revoked,) = AuditEvent.objects.filter(action="token.revoke")
    assert revoked.actor_user_id == admin_user.pk and revoked.details["by_owner"] is False


def test_drf_create_token_prints_a_hashed_expiring_token_once(alice: Any) -> None:
    out = io.StringIO()
    call_command("drf_create_token", "alice", "--days", "5", stdout=out, stderr=io.StringIO())
    secret = out.getvalue().strip()
    token = PersonalToken.objects.get(user=alice)
    assert secret.startswith(f"et_{token.prefix}_") and token.key_hash != secret
    assert token.expires_at is not None and token.expires_at - timezone.now() <= timedelta(days=5)
    assert with_token(secret).get("/api/v1/collections").status_code == 200
    assert AuditEvent.objects.filter(action="token.create", role="command_line").count() == 1


# --- item 3: API keys carry only what their creator manages and holds ---------------------------------------


def test_an_administrator_cannot_mint_a_key_for_a_collection_they_cannot_read(
    client_for: Client, carol: Any, collection_b: Collection
) -> None:
    cache.clear()
    carol.is_staff = True
    carol.save(update_fields=["is_staff"])
    payload = {"name": "exfil", "collections": [collection_b.pk], "actions": ["search"]}
    refused = client_for(carol).post("/api/v1/api-keys", payload, format="json")
    assert refused.status_code == 403, refused.content
    assert not ApiKey.objects.exists()
    (denied,) = AuditEvent.objects.filter(action="apikey.create")
    assert denied.outcome == "denied" and denied.actor_user_id == carol.pk
    assert denied.details["outcome"] == "denied" and denied.details["collections"] == [collection_b.pk]

    # With a read grant (itself audited) the administrator may delegate reading, and nothing more.
    CollectionGrant.objects.create(collection=collection_b, user=carol, permission="read")
    assert client_for(carol).post("/api/v1/api-keys", payload, format="json").status_code == 201
    upload = {"name": "etl", "collections": [collection_b.pk], "actions": ["upload"]}
    assert client_for(carol).post("/api/v1/api-keys", upload, format="json").status_code == 403


def test_the_admin_refuses_and_audits_a_key_beyond_its_creator(
    client: Any, admin_user: Any, collection_b: Collection
) -> None:
    client.force_login(admin_user)
    response = client.post(
        "/admin/governance/apikey/add/",
        {
            "name": "exfil",
            "rate": "60/min",
            "collection_choices": [collection_b.pk],
            "action_choices": ["search"],
        },
    )
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
    (denied,) = AuditEvent.objects.filter(action="apikey.create")
    assert denied.outcome == "denied" and denied.details["collections"] == [collection_b.pk]


def test_an_owner_service_call_for_someone_elses_collection_is_refused(
    alice: Any, collection_b: Collection
) -> None:
    with pytest.raises(ApiKeyRefused):
        api_key_create(
            name="x", collection_ids=[collection_b.pk], actions=["search"], created_by=alice, actor=SYSTEM
        )


# --- item 4: a disabled account gets 401 from every API endpoint ------------------------------------------

ENDPOINTS = [
    ("get", "/api/v1/collections"),
    ("post", "/api/v1/search"),
    ("get", "/api/v1/tokens"),
    ("get", "/api/v1/api-keys"),
    ("get", "/api/v1/audit/events"),
    ("get", "/api/v1/subject-requests"),
]


def _all_refused(client: APIClient) -> list[tuple[str, int]]:
    return [
        (path, status)
        for method, path in ENDPOINTS
        if (
            status := getattr(client, method)(
                path, {"query": "x"} if method == "post" else None, format="json"
            ).status_code
        )
        != 401
    ]


def test_a_disabled_user_gets_401_by_session_and_by_token(alice: Any, collection_a: Collection) -> None:
    _token, secret = personal_token_create(user=alice, actor=SYSTEM)
    session = APIClient()
    session.force_login(alice)
    assert session.get("/api/v1/collections").status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert _all_refused(session) == []
    assert _all_refused(with_token(secret)) == []


def test_an_api_key_whose_service_user_is_disabled_gets_401(alice: Any, collection_a: Collection) -> None:
    cache.clear()
    key, secret = api_key_create(
        name="crm", collection_ids=[collection_a.pk], actions=["search"], created_by=alice, actor=SYSTEM
    )
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    assert keyed.get("/api/v1/collections").status_code == 200
    type(alice).objects.filter(pk=key.service_user_id).update(is_active=False)
    assert _all_refused(keyed) == []
