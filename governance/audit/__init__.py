"""The audit trail: append-only, hash-chained, written by one serialised writer, verifiable online and offline.

    hash_n = sha256(hash_{n-1} || canonical JSON of row n)      (hash_0 = 64 zeros)

- ``audit_record`` is the only writer. It takes a transaction-scoped advisory lock, reads the last row and
  appends ``seq + 1``: two writers can never chain onto the same row (no fork), ``seq`` has no gaps.
- The application's database role may only SELECT and INSERT here (config.db_roles); triggers reject UPDATE
  and DELETE (migration 0003) and TRUNCATE (0010) for every role, the owner's included.
- ``audit_checkpoint`` signs (HMAC, key from ``AUDIT_CHECKPOINT_KEY_FILE``) the current end of the chain;
  beat does it hourly and every export does it. Rows deleted from the end are detected against it. The newest
  checkpoint is also kept outside the database (``AUDIT_CHECKPOINT_WITNESS``, a file under ``DATA_DIR``), so
  that emptying both tables does not pass for a new, empty trail.
- ``audit_verify`` (``manage.py audit_verify``, ``GET /api/v1/audit/verify``) recomputes the chain and names
  the first row that does not match; ``verify_export`` checks an exported file offline.
Rows hold ids, pseudonyms and counts — never raw personal data: ``details`` passes the PII redactor.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.models import AuditCheckpoint, AuditEvent
from governance.pii.redaction import pseudonym, redact_text
from governance.roles import role_of

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
_HEX = re.compile(r"[0-9a-f]{16,64}")
_WRITER_LOCK = 0x456D616E6574  # "Eманет": one advisory lock id for the single serialised writer
FIELDS = (
    "seq", "created_at", "action", "outcome", "actor_user_id", "actor_key_id", "role", "ip",
    "correlation_id", "target_type", "target_id", "collection_id", "details",
)  # fmt: skip


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    key_id: int | None = None
    role: str = ""
    ip: str = ""  # already a pseudonym
    correlation_id: str = ""


SYSTEM = Actor(role="system")


def actor_for(request: Any) -> Actor:
    """Who is acting: the signed-in user or the API key (request.auth), their role, a pseudonym of the
    client address and the request's correlation id (config.middleware)."""
    user = getattr(request, "user", None)
    key = getattr(request, "auth", None)
    key_id = getattr(key, "pk", None) if getattr(key, "is_api_key", False) else None
    address = (request.META.get("REMOTE_ADDR") or "") if hasattr(request, "META") else ""
    return Actor(
        user_id=user.pk if user is not None and user.is_authenticated else None,
        key_id=key_id,
        role="api_key" if key_id is not None else role_of(user),
        ip=pseudonym("IP_ADDRESS", address) if address else "",
        correlation_id=getattr(request, "correlation_id", ""),
    )


def canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, payload: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(payload)).encode()).hexdigest()


def payload_of(event: AuditEvent) -> dict[str, Any]:
    data = {name: getattr(event, name) for name in FIELDS}
    data["created_at"] = _iso(event.created_at)
    return data


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _scrub(value: Any) -> Any:
    """Details pass the PII redactor: strings are redacted, containers walked, numbers kept."""
    if isinstance(value, str):
        # Hashes and pseudonyms are not personal data, and a hex run could read as a number to redact.
        return value if _HEX.fullmatch(value) else redact_text(value)
    if isinstance(value, float):
        return repr(
            value
        )  # jsonb would normalise 1e16 or -0.0 and the stored row would no longer hash the same
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def audit_record(
    *,
    action: str,
    actor: Actor = SYSTEM,
    outcome: str = "ok",
    target_type: str = "",
    target_id: str | int = "",
    collection_id: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Inside the caller's transaction when there is one (an action rolled back leaves no
    event); the advisory lock is held until that transaction ends, so keep audited transactions short."""
    clean = _scrub(dict(details or {}))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITER_LOCK])
        last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        event = AuditEvent(
            seq=(last["seq"] + 1) if last else 1,
            created_at=timezone.now(),
            action=action,
            outcome=outcome,
            actor_user_id=actor.user_id,
            actor_key_id=actor.key_id,
            role=actor.role,
            ip=actor.ip,
            correlation_id=actor.correlation_id[:64],
            target_type=target_type,
            target_id=str(target_id)[:64],
            collection_id=collection_id,
            details=clean,
            prev_hash=last["hash"] if last else GENESIS,
        )
        # JSON round trip: the hash covers exactly what the database will give back (e.g. tuples → lists).
        event.details = json.loads(canonical(event.details))
        event.hash = chain_hash(event.prev_hash, payload_of(event))
        event.save(force_insert=True)
    return event


# --- checkpoints -----------------------------------------------------------------------------------------


def _checkpoint_key() -> bytes:
    return settings.AUDIT_CHECKPOINT_KEY.encode()


def checkpoint_signature(seq: int, chain_end: str, created_at: str) -> str:
    return hmac.new(_checkpoint_key(), f"{seq}|{chain_end}|{created_at}".encode(), hashlib.sha256).hexdigest()


def audit_checkpoint() -> AuditCheckpoint | None:
    """Sign the current end of the chain (nothing to sign on an empty trail). Once committed, the checkpoint
    is also written to the witness file."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITER_LOCK])
        last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
        if last is None:
            return None
        now = timezone.now()
        checkpoint = AuditCheckpoint.objects.create(
            seq=last["seq"],
            hash=last["hash"],
            created_at=now,
            signature=checkpoint_signature(last["seq"], last["hash"], _iso(now)),
        )
        transaction.on_commit(partial(_witness_write, checkpoint_data(checkpoint)), robust=True)
    return checkpoint


def _witness_path() -> Path | None:
    path = settings.AUDIT_CHECKPOINT_WITNESS
    return Path(path) if path else None


def _witness_write(data: dict[str, Any]) -> None:
    """Keep the newest checkpoint (never an older one: web and beat both checkpoint) in the witness file."""
    path = _witness_path()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = witness_read()
        if current is not None and int(current["seq"]) > int(data["seq"]):
            return
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(canonical(data) + "\n", encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)


def witness_read() -> dict[str, Any] | None:
    """The checkpoint kept outside the database, or None (no file yet, or the witness is switched off)."""
    path = _witness_path()
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            "seq": int(data["seq"]),
            **{key: str(data[key]) for key in ("hash", "created_at", "signature")},
        }
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError):
        # Unreadable or edited: verification must not pass on it, nor crash.
        return {"seq": 0, "hash": "", "created_at": "", "signature": "", "unreadable": str(path)}


def checkpoint_data(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "created_at": _iso(checkpoint.created_at),
        "signature": checkpoint.signature,
    }


# --- verification ---------------------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool = True
    rows: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    broken_seq: int | None = None
    reason: str = ""
    checkpoint: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def fail(self, seq: int | None, reason: str) -> Verification:
        self.ok, self.broken_seq, self.reason = False, seq, reason
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_rows(
    rows: Iterable[Mapping[str, Any]], *, first_seq: int = 1, prev_hash: str = GENESIS
) -> Verification:
    """Recompute a contiguous stretch of the chain. Each row: the FIELDS plus prev_hash and hash."""
    result = Verification(last_hash=prev_hash, last_seq=first_seq - 1)
    expected_seq = first_seq
    for row in rows:
        seq = int(row["seq"])
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "out of order or duplicated"
            return result.fail(expected_seq if seq > expected_seq else seq, f"row {expected_seq} is {what}")
        if row["prev_hash"] != result.last_hash:
            return result.fail(seq, f"row {seq} does not link to row {seq - 1} (prev_hash differs)")
        payload = {name: row[name] for name in FIELDS}
        if chain_hash(row["prev_hash"], payload) != row["hash"]:
            return result.fail(seq, f"row {seq} was changed (its hash does not match its content)")
        result.rows += 1
        result.last_seq, result.last_hash = seq, row["hash"]
        expected_seq += 1
    return result


def verify_checkpoint(
    result: Verification, checkpoint: Mapping[str, Any] | None, hash_at: dict[int, str]
) -> None:
    if checkpoint is None or not result.ok:
        return
    result.checkpoint = dict(checkpoint)
    seq = int(checkpoint["seq"])
    expected = checkpoint_signature(seq, str(checkpoint["hash"]), str(checkpoint["created_at"]))
    if not hmac.compare_digest(expected, str(checkpoint["signature"])):
        result.fail(seq, "the checkpoint's signature is not valid (wrong key or forged)")
        return
    named = f"the checkpoint signed at {checkpoint['created_at']} covers rows 1–{seq}"
    if seq > result.last_seq:
        ends = f"ends at row {result.last_seq}" if result.last_seq else "is empty"
        result.fail(
            result.last_seq + 1,
            f"rows {result.last_seq + 1}–{seq} are gone: {named} but the trail {ends} (truncated)",
        )
    elif seq in hash_at and hash_at[seq] != checkpoint["hash"]:
        result.fail(seq, f"row {seq} differs from the signed checkpoint ({named})")


def _newest_checkpoint(in_database: AuditCheckpoint | None) -> tuple[dict[str, Any] | None, str]:
    """The newest signed checkpoint: the database's or the witness file's, whichever covers more rows; and
    why verification fails already when the two disagree (checkpoints removed from the database)."""
    newest = checkpoint_data(in_database) if in_database is not None else None
    witness = witness_read()
    if witness is None:
        return newest, ""
    if witness.get("unreadable"):
        return newest, f"the checkpoint witness {witness['unreadable']} cannot be read (edited or damaged)"
    signed = checkpoint_signature(int(witness["seq"]), str(witness["hash"]), str(witness["created_at"]))
    if not hmac.compare_digest(signed, str(witness["signature"])):
        return (
            newest,
            f"the signature of the checkpoint witness {_witness_path()} is not valid (edited or forged)",
        )
    if newest is None or int(witness["seq"]) > int(newest["seq"]):
        newest = witness
    kept = AuditCheckpoint.objects.filter(seq=int(witness["seq"]), signature=str(witness["signature"]))
    if not kept.exists():
        return newest, (
            f"the checkpoint signed at {witness['created_at']} over rows 1–{witness['seq']} (kept in "
            f"{_witness_path()}) is not in the database: checkpoints were removed"
        )
    return newest, ""


def audit_verify() -> Verification:
    """The whole trail in the database against its chain and the newest checkpoint."""
    hashes: dict[int, str] = {}
    checkpoint, removed = _newest_checkpoint(AuditCheckpoint.objects.order_by("-seq", "-id").first())
    checkpoint_seq = int(checkpoint["seq"]) if checkpoint else None

    def rows() -> Iterable[dict[str, Any]]:
        for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
            if event.seq == checkpoint_seq:
                hashes[event.seq] = event.hash
            yield {**payload_of(event), "prev_hash": event.prev_hash, "hash": event.hash}

    result = verify_rows(rows())
    # A trail shorter than its newest signed checkpoint, an empty one included, is broken.
    verify_checkpoint(result, checkpoint, hashes)
    if result.ok and removed:
        result.fail(checkpoint_seq, removed)
    if result.ok and result.rows and checkpoint is None:
        result.notes.append("no signed checkpoint yet: rows removed from the end could not be detected")
    elif result.ok and checkpoint is not None:
        age = (timezone.now() - datetime.fromisoformat(str(checkpoint["created_at"]))).total_seconds()
        if age > 2 * settings.AUDIT_CHECKPOINT_EVERY_S:
            result.notes.append(f"the newest checkpoint is {age / 3600:.1f} h old: is Celery beat running?")
    return result


# --- export ---------------------------------------------------------------------------------------------


def audit_export(*, first_seq: int | None = None, last_seq: int | None = None) -> dict[str, Any]:
    """A contiguous stretch of the trail with a manifest that ``verify_export`` checks offline. The end of the
    trail is checkpointed first, so the export carries a signature over its own end."""
    checkpoint = audit_checkpoint()
    events = AuditEvent.objects.order_by("seq")
    if first_seq is not None:
        events = events.filter(seq__gte=first_seq)
    if last_seq is not None:
        events = events.filter(seq__lte=last_seq)
    rows = [{**payload_of(e), "prev_hash": e.prev_hash, "hash": e.hash} for e in events]
    manifest = {
        "format": "emanet-audit-export/1",
        "exported_at": _iso(timezone.now()),
        "rows": len(rows),
        "first_seq": rows[0]["seq"] if rows else None,
        "last_seq": rows[-1]["seq"] if rows else None,
        "first_prev_hash": rows[0]["prev_hash"] if rows else None,
        "last_hash": rows[-1]["hash"] if rows else None,
        "checkpoint": checkpoint_data(checkpoint) if checkpoint else None,
    }
    # The manifest is signed too: cutting rows off an export and editing its counts would otherwise pass.
    manifest["signature"] = _manifest_signature(manifest)
    return {"manifest": manifest, "events": rows}


def _manifest_signature(manifest: Mapping[str, Any]) -> str:
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return hmac.new(_checkpoint_key(), canonical(unsigned).encode(), hashlib.sha256).hexdigest()


def verify_export(export: Mapping[str, Any]) -> Verification:
    manifest, rows = export["manifest"], list(export["events"])
    signature = str(manifest.get("signature", ""))
    if not hmac.compare_digest(signature, _manifest_signature(manifest)):
        return Verification().fail(
            None, "the manifest's signature is missing or not valid (edited, or wrong key)"
        )
    if not rows:
        if manifest.get("rows"):  # every row cut out of the file, the signed manifest left as it was
            return Verification().fail(
                manifest.get("first_seq"), "the export's rows are gone (its manifest names some)"
            )
        return Verification(notes=["the export holds no rows"])
    result = verify_rows(rows, first_seq=int(manifest["first_seq"]), prev_hash=manifest["first_prev_hash"])
    if result.ok and (result.last_seq != manifest["last_seq"] or result.last_hash != manifest["last_hash"]):
        result.fail(result.last_seq + 1, "the export ends before the row its manifest names (rows removed)")
    if result.ok and result.rows != manifest["rows"]:
        result.fail(None, "the manifest's row count does not match the rows")
    checkpoint = manifest.get("checkpoint")
    if checkpoint and int(checkpoint["seq"]) <= result.last_seq:
        verify_checkpoint(result, checkpoint, {int(r["seq"]): r["hash"] for r in rows})
    return result
