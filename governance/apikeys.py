"""API keys for internal systems: services, DRF authentication (``Authorization: Api-Key <key>``), the
per-view action check and per-key rate limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, permissions, throttling
from rest_framework.request import Request

from governance.access import Permission, can_manage, collection_rule
from governance.audit import Actor, audit_record
from governance.credentials import secret_check, secret_new, secret_presented
from governance.models import ApiKey, CollectionGrant

KEYWORD = "Api-Key"
TAG = "em"
READ_ACTIONS = {ApiKey.Action.SEARCH, ApiKey.Action.ASK}


class ApiKeyRefused(PermissionError):
    """The creator may not give a key these collections (the API answers 403); ``collections`` names them."""

    def __init__(self, collections: list[int]) -> None:
        super().__init__(
            "You may only give a key collections you manage and whose documents you may yourself "
            "read (search, ask) or upload to (upload)."
        )
        self.collections = collections


def _refused_collections(user: Any, collection_ids: list[int], actions: list[str]) -> list[int]:
    """The collections ``user`` may not put in a key with ``actions``. A key is a delegation: its creator
    must manage each collection (owner or administrator) and hold every permission the key will have on
    it — ``read`` for search and ask, ``upload`` for upload. Administration is no licence to read
    (governance.access), so an administrator without a grant cannot read through a key either."""
    collection_model: Any = ApiKey._meta.get_field("collections").related_model
    ids = set(collection_ids)
    managed = {c.pk for c in collection_model.objects.filter(pk__in=ids) if can_manage(user, c)}
    needed = ([Permission.READ] if READ_ACTIONS & set(actions) else []) + (
        [Permission.UPLOAD] if ApiKey.Action.UPLOAD in actions else []
    )
    allowed = managed
    for permission in needed:
        rule, params = collection_rule(user, permission, alias="c")
        table = collection_model._meta.db_table
        held = RawSQL(f"SELECT c.id FROM {table} c WHERE {rule}", params)  # noqa: S608,S611 - bound values
        allowed &= set(collection_model.objects.filter(pk__in=held).values_list("pk", flat=True))
    return sorted(ids - allowed)


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
    """Returns the key and its secret — the only time the secret exists outside the caller. Raises
    ApiKeyRefused (recorded in the trail as a denied ``apikey.create``) when ``created_by`` may not delegate
    one of the collections (``_refused_collections``)."""
    unknown = set(actions) - set(ApiKey.Action.values)
    if not actions or unknown:
        raise ValueError(f"actions must be a non-empty subset of {', '.join(ApiKey.Action.values)}.")
    refused = _refused_collections(created_by, collection_ids, actions)
    if refused:
        # Committed on its own unless the caller holds a transaction open; the admin does not (ApiKeyAdmin).
        audit_record(
            action="apikey.create",
            actor=actor,
            outcome="denied",
            target_type="api_key",
            details={
                "outcome": "denied",
                "name": name,
                "collections": refused,
                "requested": sorted(set(collection_ids)),
                "actions": sorted(set(actions)),
            },
        )
        raise ApiKeyRefused(refused)
    prefix, secret, key_hash = secret_new(TAG)
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=f"api-key:{name}"[:150])
        user.set_unusable_password()
        user.save(update_fields=["password"])
        key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            key_hash=key_hash,
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
        presented = secret_presented(request, keyword=KEYWORD, tag=TAG)
        if presented is None:
            return None
        prefix, secret = presented
        key = ApiKey.objects.select_related("service_user").filter(prefix=prefix).first() if prefix else None
        secret_check(
            noun="API key",
            secret=secret,
            stored_hash=key.key_hash if key else None,
            revoked_at=key.revoked_at if key else None,
            expires_at=key.expires_at if key else None,
            user=key.service_user if key else None,
        )
        assert key is not None  # noqa: S101 - secret_check refused otherwise
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return key.service_user, key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The OpenAPI schema names the API key scheme."""

    target_class = "governance.apikeys.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Api-Key <key>`"}


class ApiKeyActionAllowed(permissions.BasePermission):
    """A view names the action an API key needs per HTTP method (``api_key_actions``); views that name none
    are closed to API keys (the portal, administration, the audit trail, PII analysis)."""

    message = "This API key may not do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            # A key's service user acts only through its key (not a session or a personal token made for it).
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
