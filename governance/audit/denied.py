"""Denied access in the audit trail, bounded so that a flood cannot fill the disk.

Object probes answered 404/403, bad or missing credentials (401), failed logins and lockouts are audit events
with ``outcome="denied"``. Repeats are aggregated per minute and per *key*:

    (who, action, reason, path template)      who = user:<id> | key:<api key id> | ip:<pseudonym>

- The first denial of a key in a minute is written at once (an attack is visible immediately).
- Repeats in that minute only increment a counter in Redis (``HINCRBY``); no database write.
- ``audit_denied_flush`` (Celery beat, every minute) writes one summary event per key and past minute with
  the number of repeats (``details.repeats``) and empties the counters.
- At most ``AUDIT_DENIED_KEYS_PER_MINUTE`` distinct keys a minute get their own events; beyond that (a flood
  from many addresses) everything falls into one overflow key.

So 10,000 denied requests in a minute are at most two rows per key, and a minute's rows are bounded by twice
the key limit plus two, however many requests arrive. The client address is kept only as its HMAC pseudonym
(``actor_for``: ``pseudonym("IP_ADDRESS", address)``, keyed by ``PII_HMAC_KEY``), a typed user name only as
``pseudonym("PERSON", name)``; presented secrets (tokens, API keys, passwords) are never passed in here.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.audit import Actor, audit_record
from governance.models import AuditEvent
from governance.pii.redaction import pseudonym

logger = logging.getLogger(__name__)

DENIED = "denied"
PREFIX = "emanet:audit-denied:"
_PENDING = PREFIX + "pending"  # a set of minutes that have counted repeats waiting for a summary
_KEEP_S = 7 * 24 * 3600  # counters nobody flushed (no beat running) are dropped after a week
_OVERFLOW_WHO = "overflow"
_MARKER_S = 180  # a minute's "first event written" markers outlive the minute, then expire
_WRITING = "writing"  # marker value: the first event is being written (a request in flight)
_OVERFLOWED = "overflowed"  # marker value: the key came after the minute's limit; it counts as overflow
_OVERFLOW: dict[str, Any] = {"who": _OVERFLOW_WHO, "action": "", "reason": "", "path": ""}


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _client() -> redis.Redis:
    return _redis(settings.REDIS_URL)


def _who(actor: Actor) -> str:
    if actor.key_id is not None:
        return f"key:{actor.key_id}"
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"ip:{actor.ip}"


def _minute(now: datetime | None) -> int:
    return int((now or timezone.now()).timestamp() // 60)


def _minute_iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, tz=UTC).isoformat()


def audit_denied(
    *,
    actor: Actor,
    action: str,
    reason: str,
    path: str,
    details: Mapping[str, Any] | None = None,
    target_type: str = "",
    target_id: str | int = "",
    now: datetime | None = None,
) -> AuditEvent | None:
    """Record one denied request: the first of its key in this minute as an event (returned), a repeat as a
    count for the minute's summary (``None``). ``path`` is the route template, never the concrete URL (ids
    and typed values would split the key and could carry personal data)."""
    minute = _minute(now)
    descriptor = {
        "who": _who(actor),
        "action": action,
        "reason": reason,
        "path": path,
        "role": actor.role,
        "user_id": actor.user_id,
        "key_id": actor.key_id,
        "ip": actor.ip,
    }
    marker = ""
    try:
        marker, descriptor = _claim_first(minute, descriptor)
        if not marker:
            return None  # a repeat, counted for the minute's summary
    except redis.RedisError:
        # Without Redis there is no aggregation: the event is written rather than lost (Redis is also the
        # broker, so an outage is noticed and short).
        logger.warning("denied-access aggregation unavailable; writing the event directly", exc_info=True)
    overflow = descriptor["who"] == _OVERFLOW_WHO
    event = audit_record(
        action="access.denied_overflow" if overflow else action,
        outcome=DENIED,
        actor=Actor(role="system") if overflow else actor,
        target_type="" if overflow else target_type,
        target_id="" if overflow else target_id,
        details={
            "reason": reason,
            "path": path,
            **({} if overflow else dict(details or {})),
            "minute": _minute_iso(minute),
            # Repeats of this key in this minute follow in one summary event (details.repeats).
            "first_of_minute": True,
        },
    )
    if marker:
        try:
            _client().set(marker, f"{event.seq}:{event.hash}", ex=_MARKER_S)
        except redis.RedisError:
            logger.warning("denied-access aggregation unavailable", exc_info=True)
    return event


def _field(descriptor: Mapping[str, Any]) -> str:
    return json.dumps(descriptor, sort_keys=True, separators=(",", ":"))


def _claim_first(minute: int, descriptor: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The marker key to set once the first event is written, or "" when this is a repeat (then already
    counted); and the key the request falls under (the overflow key once the minute has too many)."""
    client = _client()
    marker = f"{PREFIX}first:{minute}:{_field(descriptor)}"
    overflow_marker = f"{PREFIX}first:{minute}:{_field(_OVERFLOW)}"
    full = int(client.get(f"{PREFIX}keys:{minute}") or 0) >= settings.AUDIT_DENIED_KEYS_PER_MINUTE
    if full and not client.exists(marker):
        # The minute is full: a new key gets no marker of its own (Redis memory stays bounded by the limit,
        # whatever a flood of distinct sources sends) and counts under the overflow key.
        return (overflow_marker if _take(client, minute, overflow_marker, _OVERFLOW) else ""), _OVERFLOW
    if not _take(client, minute, marker, descriptor):
        return "", descriptor
    keys = int(client.incr(f"{PREFIX}keys:{minute}"))
    client.expire(f"{PREFIX}keys:{minute}", _MARKER_S)
    if keys <= settings.AUDIT_DENIED_KEYS_PER_MINUTE:
        return marker, descriptor
    # Too many distinct keys this minute: this key and all later ones count under one overflow key.
    client.set(marker, _OVERFLOWED, ex=_MARKER_S)
    return (overflow_marker if _take(client, minute, overflow_marker, _OVERFLOW) else ""), _OVERFLOW


# One round trip per request: take the marker if nobody has (returns ""), else count the request as a repeat
# (under the overflow key if the marker says so) and return what the marker holds.
_TAKE_OR_COUNT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return '' end
local value = redis.call('GET', KEYS[1])
local field = ARGV[3]
if value == ARGV[4] then field = ARGV[5] end
redis.call('HINCRBY', KEYS[2], field, 1)
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('SADD', KEYS[3], ARGV[7])
return value
"""


def _take(client: redis.Redis, minute: int, marker: str, descriptor: Mapping[str, Any]) -> bool:
    """Whether this request writes the minute's first event of its key; if not, it has been counted. A
    repeat is only counted while that first event is really in the trail: if its transaction was rolled back
    (or the database restored), the marker names a row that is not there, and this request writes the first
    event again."""
    field = _field(descriptor)
    repeats = f"{PREFIX}repeats:{minute}"
    value = client.eval(
        _TAKE_OR_COUNT,
        3,
        marker,
        repeats,
        _PENDING,
        _WRITING,
        _MARKER_S,
        field,
        _OVERFLOWED,
        _field(_OVERFLOW),
        _KEEP_S,
        minute,
    )
    text = value.decode() if isinstance(value, bytes) else str(value or "")
    if not text:
        return True
    if text in (_WRITING, _OVERFLOWED):
        return False
    seq, _, chain_hash = text.partition(":")
    # A primary-key probe without the ORM: this runs for every repeat of a flood.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM governance_auditevent WHERE seq = %s AND hash = %s", [int(seq), chain_hash]
        )
        if cursor.fetchone() is not None:
            return False
    # Compare-and-set: of several requests that found the same stale marker, only one swaps it (and takes
    # back its count).
    if client.set(marker, _WRITING, ex=_MARKER_S, get=True) != value:
        return False
    client.hincrby(repeats, field, -1)
    return True


def audit_denied_flush(*, now: datetime | None = None) -> int:
    """Write one summary event per key for every past minute with counted repeats; return how many.

    Safe to run concurrently and repeatedly: a minute's counters are claimed by an atomic RENAME, so two
    flushes never write the same counts. A repeat counted after the claim (a web process whose clock lags)
    re-registers its minute and is summarised by the next flush."""
    client = _client()
    current = _minute(now)
    written = 0
    for minute in sorted(int(m) for m in client.smembers(_PENDING)):
        if minute >= current:
            continue
        # Unregister before claiming: a repeat counted after the RENAME registers the minute again.
        client.srem(_PENDING, minute)
        claimed = f"{PREFIX}flushing:{minute}:{uuid.uuid4().hex}"
        try:
            client.rename(f"{PREFIX}repeats:{minute}", claimed)
        except redis.ResponseError:  # no such key: another flush took it
            continue
        counts = client.hgetall(claimed)
        with transaction.atomic():
            for field, count in sorted(counts.items()):
                if int(count) > 0:  # 0: the one repeat of a key was taken back to write a first event
                    written += _write_summary(minute, json.loads(field), int(count))
        client.delete(claimed)
    return written


def _write_summary(minute: int, descriptor: Mapping[str, Any], repeats: int) -> int:
    overflow = descriptor["who"] == _OVERFLOW_WHO
    actor = (
        Actor(role="system")
        if overflow
        else Actor(
            user_id=descriptor.get("user_id"),
            key_id=descriptor.get("key_id"),
            role=str(descriptor.get("role", "")),
            ip=str(descriptor.get("ip", "")),
        )
    )
    audit_record(
        action="access.denied_overflow" if overflow else str(descriptor["action"]),
        outcome=DENIED,
        actor=actor,
        details={
            "reason": descriptor.get("reason", ""),
            "path": descriptor.get("path", ""),
            "minute": _minute_iso(minute),
            "repeats": repeats,
            "summary": True,
        },
    )
    return 1


# --- logins -----------------------------------------------------------------------------------------------


def audit_login_failed(*, actor: Actor, username: str, path: str) -> AuditEvent | None:
    """A failed sign-in. The typed name may be a real person's (or a password typed into the wrong field):
    only its pseudonym is kept, enough to see repeated attempts on one account."""
    return audit_denied(
        actor=actor,
        action="login",
        reason="bad_credentials",
        path=path,
        details={"username": pseudonym("PERSON", username)},
    )


def audit_login_locked_out(*, actor: Actor, username: str, path: str) -> AuditEvent | None:
    """Sign-in refused by the lockout (django-axes): too many failures for this name from this address."""
    return audit_denied(
        actor=actor,
        action="login.lockout",
        reason="too_many_failures",
        path=path,
        details={
            "username": pseudonym("PERSON", username),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": settings.AXES_COOLOFF_MINUTES,
        },
    )
