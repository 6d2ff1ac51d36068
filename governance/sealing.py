"""Sealing values that must be kept for a while but never in clear: AES-256-GCM under a key derived from
PII_HMAC_KEY. Used for the identifiers of an open data-subject request (wiped when it closes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings


def _key(purpose: str) -> bytes:
    return hmac.new(settings.PII_HMAC_KEY.encode(), f"seal|{purpose}".encode(), hashlib.sha256).digest()


def seal(value: Any, *, purpose: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(purpose)).encrypt(nonce, json.dumps(value).encode(), purpose.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(token: str, *, purpose: str) -> Any:
    """Raises cryptography.exceptions.InvalidTag when the token was altered or sealed under another key."""
    raw = base64.b64decode(token)
    return json.loads(AESGCM(_key(purpose)).decrypt(raw[:12], raw[12:], purpose.encode()))
