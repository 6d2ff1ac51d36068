"""Personal API tokens (``Authorization: Token <key>``): services, selectors and DRF authentication.

Like API keys (governance.apikeys): the secret ``et_<prefix>_<random>`` is shown once, when it is created, and
stored as its SHA-256; the visible prefix names it in lists. A token expires (``PERSONAL_TOKEN_DAYS``, 90 by
default) and its owner or an administrator can revoke it, effective on the next request. Nobody — an
administrator included — can read a token back, so nobody can act as somebody else with it.

Authentication refuses (401) an unknown, revoked or expired token and a token whose user is disabled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication
from rest_framework.request import Request

from governance.audit import Actor, audit_record
from governance.credentials import secret_check, secret_new, secret_presented
from governance.models import ApiKey, PersonalToken

KEYWORD = "Token"
TAG = "et"
MAX_DAYS = 3650


class TokenError(ValueError):
    """The token cannot be made; the message says why."""


def token_secret_new() -> tuple[str, str, str]:
    """A fresh secret: its visible prefix, the secret ``et_<prefix>_<256 random bits>`` and its hash."""
    return secret_new(TAG)


def personal_token_create(
    *, user: Any, actor: Actor, name: str = "", days: int | None = None
) -> tuple[PersonalToken, str]:
    """A new token for ``user``, valid ``days`` (default ``PERSONAL_TOKEN_DAYS``; 0 there means no expiry).
    Returns the token and its secret — the only time the secret exists outside the caller."""
    if not user.is_active:
        raise TokenError("This account is disabled.")
    if ApiKey.objects.filter(service_user_id=user.pk).exists():
        raise TokenError("An API key's service user acts only through its key.")
    days = settings.PERSONAL_TOKEN_DAYS if days is None else days
    if days < 0 or days > MAX_DAYS:
        raise TokenError(f"A token lives between 1 and {MAX_DAYS} days.")
    expires_at = timezone.now() + timedelta(days=days) if days else None
    prefix, secret, key_hash = token_secret_new()
    with transaction.atomic():
        token = PersonalToken.objects.create(
            user=user, name=name.strip()[:100], prefix=prefix, key_hash=key_hash, expires_at=expires_at
        )
        audit_record(
            action="token.create",
            actor=actor,
            target_type="personal_token",
            target_id=token.pk,
            details={
                "user_id": user.pk,
                "prefix": prefix,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return token, secret


def personal_token_revoke(*, token: PersonalToken, actor: Actor, by: Any = None) -> bool:
    """Revoke ``token`` (its owner or an administrator; the caller checks which). Effective on the next
    request: authentication reads ``revoked_at`` every time. False when it was revoked already."""
    with transaction.atomic():
        changed = PersonalToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=by
        )
        if changed:
            audit_record(
                action="token.revoke",
                actor=actor,
                target_type="personal_token",
                target_id=token.pk,
                details={
                    "user_id": token.user_id,
                    "prefix": token.prefix,
                    "by_owner": actor.user_id == token.user_id,
                },
            )
    return bool(changed)


def personal_tokens_revoke_all(*, user: Any, actor: Actor) -> int:
    """Revoke every live token of ``user`` (a disabled account, a departure). Returns how many."""
    count = 0
    for token in PersonalToken.objects.filter(user=user, revoked_at__isnull=True):
        count += personal_token_revoke(token=token, actor=actor)
    return count


def personal_tokens_of(user: Any) -> QuerySet[PersonalToken]:
    """A user's tokens, newest first (never with a secret: none is stored)."""
    return PersonalToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def token_is_live(token: PersonalToken) -> bool:
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > timezone.now())


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token et_<prefix>_<secret>``. Checked on every request: revoked, expired and
    disabled accounts are refused at once (401)."""

    def authenticate(self, request: Request) -> tuple[Any, PersonalToken] | None:
        presented = secret_presented(request, keyword=KEYWORD, tag=TAG)
        if presented is None:
            return None
        prefix, secret = presented
        token = PersonalToken.objects.select_related("user").filter(prefix=prefix).first() if prefix else None
        secret_check(
            noun="token",
            secret=secret,
            stored_hash=token.key_hash if token else None,
            revoked_at=token.revoked_at if token else None,
            expires_at=token.expires_at if token else None,
            user=token.user if token else None,
        )
        assert token is not None  # noqa: S101 - secret_check refused otherwise
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI schema names the token scheme (``/api/docs/``'s Authorize button)."""

    target_class = "governance.tokens.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: a personal token (POST /api/v1/tokens or manage.py drf_create_token)",
        }
