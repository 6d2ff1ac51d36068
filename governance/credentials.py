"""What personal tokens and API keys share: a secret ``<tag>_<prefix>_<random>`` shown once and stored as
its SHA-256, found by its visible prefix, compared in constant time, and refused when revoked, expired or
when its account is disabled — checked on every request, not only when it was made."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_new(tag: str) -> tuple[str, str, str]:
    """A fresh secret: its visible prefix, the secret ``<tag>_<prefix>_<256 random bits>`` and its hash."""
    prefix = secrets.token_hex(4)
    secret = f"{tag}_{prefix}_{secrets.token_urlsafe(32)}"
    return prefix, secret, secret_digest(secret)


def secret_presented(request: Request, *, keyword: str, tag: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` from ``Authorization: <keyword> <secret>``; None when the header is another
    scheme's; ``("", secret)`` when it is this scheme's but not shaped like its secrets."""
    header = authentication.get_authorization_header(request).decode("latin-1")
    if not header.startswith(f"{keyword} "):
        return None
    secret = header[len(keyword) + 1 :].strip()
    parts = secret.split("_", 2)  # <tag>_<prefix>_<random> (the random part may contain "_")
    return (parts[1] if len(parts) == 3 and parts[0] == tag else ""), secret


def secret_check(
    *,
    noun: str,
    secret: str,
    stored_hash: str | None,
    revoked_at: datetime | None,
    expires_at: datetime | None,
    user: Any,
) -> None:
    """Raise 401 unless the secret matches a live credential of an active account (``stored_hash`` None:
    no credential has the presented prefix)."""
    if stored_hash is None or not hmac.compare_digest(stored_hash, secret_digest(secret)):
        raise exceptions.AuthenticationFailed(f"Invalid {noun}.")
    if revoked_at is not None:
        raise exceptions.AuthenticationFailed(f"This {noun} has been revoked.")
    if expires_at is not None and expires_at <= timezone.now():
        raise exceptions.AuthenticationFailed(f"This {noun} has expired.")
    if not user.is_active:
        raise exceptions.AuthenticationFailed(f"The account of this {noun} is disabled.")
