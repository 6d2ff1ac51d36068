"""API keys for internal systems: services, DRF authentication (``Authorization: Api-Key <key>``), the
per-view action check and per-key rate limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from governance.audit import Actor, audit_record
from governance.models import ApiKey, CollectionGrant

KEYWORD = "Api-Key"
READ_ACTIONS = {ApiKey.Action.SEARCH, ApiKey.Action.ASK}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    name: str,
    collection_ids: list[int],
    actions: list[str],
    created_by: Any,
    actor: Actor,
    expires_at: datetime | None = None,
    rate: str = "120/min",
) -> tuple[ApiKey, str]:
    """Returns the key and its secret — the only time the secret exists outside the caller."""
    unknown = set(actions) - set(ApiKey.Action.values)
    if not actions or unknown:
        raise ValueError(f"actions must be a non-empty subset of {', '.join(ApiKey.Action.values)}.")
    prefix = secrets.token_hex(4)
    secret = f"em_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=f"api-key:{name}"[:150])
        user.set_unusable_password()
        user.save(update_fields=["password"])
        key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            key_hash=_digest(secret),
            service_user=user,
            actions=sorted(set(actions)),
            expires_at=expires_at,
            rate=rate,
            created_by=created_by,
        )
        key.collections.set(collection_ids)
        # The key's scope is expressed as grants of its service user: one access model for everybody.
        for collection_id in collection_ids:
            if READ_ACTIONS & set(actions):
                CollectionGrant.objects.create(collection_id=collection_id, user=user, permission="read")
            if ApiKey.Action.UPLOAD in actions:
                CollectionGrant.objects.create(collection_id=collection_id, user=user, permission="upload")
        audit_record(
            action="apikey.create",
            actor=actor,
            target_type="api_key",
            target_id=key.pk,
            details={
                "name": name,
                "collections": sorted(collection_ids),
                "actions": key.actions,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return key, secret


def api_key_revoke(*, key: ApiKey, actor: Actor) -> None:
    """Effective on the next request: authentication checks ``revoked_at`` every time."""
    with transaction.atomic():
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        get_user_model().objects.filter(pk=key.service_user_id).update(is_active=False)
        audit_record(
            action="apikey.revoke",
            actor=actor,
            target_type="api_key",
            target_id=key.pk,
            details={"name": key.name},
        )


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{KEYWORD} "):
            return None
        secret = header[len(KEYWORD) + 1 :].strip()
        parts = secret.split("_", 2)  # em_<prefix>_<secret> (the secret may contain "_")
        key = (
            ApiKey.objects.select_related("service_user").filter(prefix=parts[1]).first()
            if len(parts) == 3
            else None
        )
        if key is None or not hmac.compare_digest(key.key_hash, _digest(secret)):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if key.expires_at is not None and key.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("This API key has expired.")
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return key.service_user, key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiKeyActionAllowed(permissions.BasePermission):
    """A view names the action an API key needs per HTTP method (``api_key_actions``); views that name none
    are closed to API keys (the portal, administration, the audit trail, PII analysis)."""

    message = "This API key may not do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            # A key's service user acts only through its key (not a session or a DRF token made for it).
            if ApiKey.objects.filter(service_user_id=getattr(request.user, "pk", None)).exists():
                self.message = "This account belongs to an API key; use the key."
                return False
            return True
        needed = getattr(view, "api_key_actions", {}).get(request.method)
        if needed is None:
            self.message = "API keys cannot use this endpoint."
            return False
        if needed == "any":
            return True
        if needed not in key.actions:
            self.message = f"This API key is not allowed to {needed}."
            return False
        return True


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Each key's own rate (``ApiKey.rate``); other clients are not throttled here."""

    scope = "api_key"

    def __init__(self) -> None:  # the rate is per key, read in allow_request
        pass

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        self.rate = key.rate
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        return f"throttle_api_key_{key.pk}" if isinstance(key, ApiKey) else None
