"""Data-subject requests (KVKK Art. 11, GDPR Art. 15 and 17): find, export, erase — and prove it.

A compliance officer gives what identifies the person (T.C. kimlik no, tax number, e-mail, phone, IBAN, full
name). Their occurrences are found two ways, so neither a missed recognition nor a redaction hides them:
- the **subject index**: ``SubjectMention`` rows keyed by HMAC(type + normalised value), written at ingestion
  for every finding whatever the policy did with it (masked, hashed, kept, dropped);
- an **exact search**: a regular expression per identifier over every stored text — chunks and headings,
  document titles and file names, questions, answers, citation snippets, feedback comments, conversation
  titles — that also
  matches other spellings (``TR33 0006 …``, ``+90 (532) …``, ``AYŞE YILMAZ`` for Ayşe Yılmaz) and the
  value's pseudonym where a policy hashed it (``<TCKN_3fa9…>``).

**Access** produces an export: what is held (the passages, with everyone else's personal data masked), in
which collections, for what purposes and on what legal basis, since when, and who retrieved it according to
the audit trail. **Erasure** removes the passages (or whole documents, per the collection's
``erasure_scope``), their vectors and subject-index rows, the stored source files, the answers and citations
that quoted them and the conversation messages that contained them; then it searches again — index and
exact search — and must find nothing; the receipt (counts, content hashes, when, by whom, the verification)
goes to the audit trail in the same transaction. Finally the subject's own pseudonym keys are destroyed
(crypto-shredding): the audit rows that named the subject by those pseudonyms stay, and the chain over them
still verifies, but nobody can link them to the person any more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError as BrokerUnavailable

from governance import sealing
from governance.audit import SYSTEM, Actor, audit_record
from governance.compliance.retention import destruction_record
from governance.inventory import GDPR_BASIS, entry_of
from governance.models import (
    AuditEvent,
    DestructionRecord,
    ProcessingRecord,
    SubjectKey,
    SubjectMention,
    SubjectRequest,
)
from governance.pii import engine
from governance.pii.redaction import MARKER, pseudonym, subject_key
from governance.pii.validators import digits_only, iban_valid, tckn_valid, vkn_valid
from governance.roles import is_compliance_officer
from rag.selectors.subjects import (
    answers_asked,
    answers_citing,
    chunk_texts,
    chunks_for_export,
    chunks_left,
    collections_by_id,
    document_chunk_texts,
    documents_by_id,
    documents_locked,
    documents_unindexed_matching,
    texts_matching,
)
from rag.services.deletion import answers_delete, chunks_vacuum, document_delete, passages_delete

logger = logging.getLogger(__name__)

PROCESS_TASK = "governance.tasks.subject_request_process"

# API field → entity type of the PII layer.
IDENTIFIERS = {
    "tckn": "TCKN",
    "vkn": "VKN",
    "email": "EMAIL",
    "phone": "PHONE",
    "iban": "IBAN",
    "name": "PERSON",
}
DUE_DAYS = 30  # KVKK Art. 13: at the latest thirty days
SEAL_PURPOSE = "subject-request"
# A run older than this is presumed dead (its worker crashed) and may be taken over.
PROCESSING_LEASE_S = 1800
Kind = SubjectRequest.Kind
Status = SubjectRequest.Status
OPEN = (Status.AWAITING_APPROVAL, Status.QUEUED, Status.PROCESSING)
# Not answered yet: a failed request still owes the person an answer by its due date.
UNANSWERED = (*OPEN, Status.FAILED)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SubjectRequestError(ValueError):
    """The request is invalid or not allowed now; ``errors`` maps fields to messages."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {"detail": message}


# --- identifiers ----------------------------------------------------------------------------------------


@sensitive_variables("data", "clean", "values", "raw")
def identifiers_clean(data: Any) -> dict[str, list[str]]:
    """Validate what the officer typed: each field a value or a list of values (a person may have two
    e-mail addresses); checksums where the identifier has one. Raises SubjectRequestError per field."""
    if not isinstance(data, dict) or not data:
        raise SubjectRequestError("Give at least one identifier.", {"identifiers": "at least one identifier"})
    errors: dict[str, str] = {}
    clean: dict[str, list[str]] = {}
    for name, raw in data.items():
        if name not in IDENTIFIERS:
            errors[name] = f"unknown identifier; one of: {', '.join(IDENTIFIERS)}"
            continue
        values = raw if isinstance(raw, list) else [raw]
        if not values or not all(isinstance(v, str) and v.strip() and len(v) <= 200 for v in values):
            errors[name] = "a non-empty text (or a list of them) of at most 200 characters"
            continue
        values = list(dict.fromkeys(v.strip() for v in values))[:10]
        problem = next((p for p in (_problem(name, v) for v in values) if p), "")
        if problem:
            errors[name] = problem
        else:
            clean[name] = values
    if errors:
        raise SubjectRequestError("Some identifiers are not valid.", errors)
    return clean


def _problem(name: str, value: str) -> str:
    if name == "tckn" and not tckn_valid(digits_only(value)):
        return "not a valid T.C. kimlik no (11 digits, checksum)"
    if name == "vkn" and not vkn_valid(digits_only(value)):
        return "not a valid tax number (10 digits, checksum)"
    if name == "iban" and not iban_valid(value):
        return "not a valid IBAN"
    if name == "email" and not _EMAIL.fullmatch(value):
        return "not an e-mail address"
    if name == "phone" and not 10 <= len(digits_only(value)) <= 15:
        return "a phone number has 10 to 15 digits"
    if name == "name" and len(value.split()) < 2:
        # One word would match every namesake: the exact search needs given name and surname.
        return "the full name: given name(s) and surname"
    return ""


def _pairs(identifiers: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(IDENTIFIERS[name], value) for name, values in identifiers.items() for value in values]


def subject_keys(identifiers: dict[str, list[str]]) -> set[str]:
    return {subject_key(entity_type, value) for entity_type, value in _pairs(identifiers)}


def _ref(key: SubjectKey) -> str:
    return hmac.new(bytes.fromhex(key.secret), b"audit-ref", hashlib.sha256).hexdigest()[:16]


def subject_refs(identifiers: dict[str, list[str]], *, create: bool) -> dict[str, list[str]]:
    """The subject's audit pseudonyms: HMAC(own random key of each identifier). ``create``: make missing keys;
    otherwise an identifier whose key was shredded has no ref any more."""
    refs: dict[str, list[str]] = defaultdict(list)
    for entity_type, value in _pairs(identifiers):
        lookup = subject_key(entity_type, value)
        key = SubjectKey.objects.filter(lookup=lookup).first()
        if key is None and create:
            SubjectKey.objects.get_or_create(lookup=lookup, defaults={"secret": secrets.token_hex(32)})
            key = SubjectKey.objects.get(lookup=lookup)
        if key is not None:
            refs[entity_type].append(_ref(key))
    return dict(refs)


# --- exact search ---------------------------------------------------------------------------------------

_SEPARATORS = r"[[:space:].()/-]{0,3}"
_LETTER_CLASSES = {
    "i": "iıİI", "ı": "ıiIİ", "İ": "iıİI", "I": "ıiIİ", "s": "sşSŞ", "ş": "sşSŞ", "g": "gğGĞ", "ğ": "gğGĞ",
    "c": "cçCÇ", "ç": "cçCÇ", "o": "oöOÖ", "ö": "oöOÖ", "u": "uüUÜûÛ", "ü": "uüUÜ", "a": "aâAÂ", "â": "aâAÂ",
}  # fmt: skip


def _letters(word: str) -> str:
    out = []
    for ch in word:
        variants = _LETTER_CLASSES.get(ch) or _LETTER_CLASSES.get(ch.lower())
        if variants:
            out.append(f"[{variants}]")
        elif ch.isalpha():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _digits(digits: str) -> str:
    return _SEPARATORS.join(digits)


def identifier_patterns(identifiers: dict[str, list[str]]) -> list[str]:
    """PostgreSQL regular expressions matching each identifier however it is written, and its pseudonym."""
    patterns: list[str] = []
    for entity_type, value in _pairs(identifiers):
        patterns.append(re.escape(f"<{entity_type}_{pseudonym(entity_type, value)}>"))
        if entity_type in {"TCKN", "VKN"}:
            patterns.append(f"(^|[^0-9]){_digits(digits_only(value))}([^0-9]|$)")
        elif entity_type == "PHONE":
            digits = digits_only(value)
            national = digits[-10:] if digits.startswith(("90", "0")) or len(digits) == 10 else digits
            # 0532…, (0532)…, +90 532…, 0090 532…: the trunk or country prefix may precede the number.
            prefix = r"(\+?[[:space:]]*90|0090|0)?[[:space:].()/-]{0,3}"
            patterns.append(f"(^|[^0-9]){prefix}{_digits(national)}([^0-9]|$)")
        elif entity_type == "IBAN":
            compact = re.sub(r"[^0-9A-Za-z]", "", value).upper()
            patterns.append(_SEPARATORS.join(_letters(ch) if ch.isalpha() else ch for ch in compact))
        elif entity_type == "EMAIL":
            # Whole addresses only: ali@x.com is not inside mehmet.ali@x.com or ali@x.com.tr.
            patterns.append(
                f"(^|[^[:alnum:]._%+-]){_letters(value.strip())}([^[:alnum:]_.-]|[.]([^[:alnum:]]|$)|$)"
            )
        else:  # a full name: the words in order, any spacing, Turkish letters either way
            words = [_letters(word) for word in value.split()]
            patterns.append(r"(^|[^[:alpha:]])" + r"[[:space:]]+".join(words) + r"([^[:alpha:]]|$)")
    return patterns


def _regex(identifiers: dict[str, list[str]]) -> str:
    return "|".join(f"({p})" for p in identifier_patterns(identifiers))


# --- finding --------------------------------------------------------------------------------------------


@dataclass
class Occurrences:
    by_index: set[int] = field(default_factory=set)  # chunk ids, from the subject index
    by_exact: set[int] = field(default_factory=set)  # chunk ids, from the exact search
    entity_types: dict[int, set[str]] = field(default_factory=dict)  # chunk id → types found by the index
    titled_documents: set[int] = field(default_factory=set)  # title or file name names the subject
    answers: set[int] = field(default_factory=set)  # question, answer text or a citation quotes the subject
    conversations: set[int] = field(default_factory=set)  # conversation title names the subject
    # Documents not (or not yet) indexed — queued, processing, failed — whose stored file mentions the subject.
    unindexed_documents: set[int] = field(default_factory=set)
    # Not indexed and not readable as text (a damaged PDF that failed ingestion): cannot be ruled out.
    unsearchable_documents: set[int] = field(default_factory=set)

    @property
    def chunks(self) -> set[int]:
        return self.by_index | self.by_exact

    def total(self) -> int:
        return (
            len(self.chunks)
            + len(self.titled_documents)
            + len(self.answers)
            + len(self.conversations)
            + len(self.unindexed_documents)
        )


def subject_find(identifiers: dict[str, list[str]]) -> Occurrences:
    found = Occurrences()
    for chunk_id, entity_type in SubjectMention.objects.filter(
        subject__in=subject_keys(identifiers)
    ).values_list("chunk_id", "entity_type"):
        found.by_index.add(chunk_id)
        found.entity_types.setdefault(chunk_id, set()).add(entity_type)
    pattern = _regex(identifiers)
    matches = texts_matching(pattern=pattern)
    found.by_exact.update(matches.chunks)
    found.titled_documents.update(matches.documents)
    found.answers.update(matches.answers)
    found.conversations.update(matches.conversations)
    found.unindexed_documents, found.unsearchable_documents = documents_unindexed_matching(pattern=pattern)
    return found


# --- requests -------------------------------------------------------------------------------------------


def _require_officer(user: Any) -> None:
    if not is_compliance_officer(user):
        raise SubjectRequestError("Only compliance officers handle data-subject requests.")


@sensitive_variables("identifiers", "clean")
def subject_request_create(
    *, kind: str, identifiers: Any, user: Any, actor: Actor, note: str = ""
) -> SubjectRequest:
    """Open a request, due in 30 days. An erasure waits for a second officer when DSR_ERASURE_APPROVAL is on;
    otherwise the request is queued for processing at once."""
    _require_officer(user)
    if kind not in Kind.values:
        raise SubjectRequestError("kind must be access or erasure.", {"kind": "access or erasure"})
    clean = identifiers_clean(identifiers)
    if kind == Kind.ERASURE and set(clean) == {"name"}:
        raise SubjectRequestError(
            "An erasure by name alone would also erase the person's namesakes: give at least one other "
            "identifier (T.C. kimlik no, e-mail, phone, IBAN or tax number).",
            {"identifiers": "a name and at least one other identifier"},
        )
    waits = kind == Kind.ERASURE and settings.DSR_ERASURE_APPROVAL
    with transaction.atomic():
        request = SubjectRequest.objects.create(
            kind=kind,
            status=Status.AWAITING_APPROVAL if waits else Status.QUEUED,
            identifier_types=sorted(IDENTIFIERS[name] for name in clean),
            sealed_identifiers=sealing.seal(clean, purpose=SEAL_PURPOSE),
            subject_refs=subject_refs(clean, create=True),
            note=note.strip()[:500],
            requested_by=user,
            due_at=timezone.now() + timedelta(days=DUE_DAYS),
        )
        audit_record(
            action="subject_request.create",
            actor=actor,
            target_type="subject_request",
            target_id=request.pk,
            details={"kind": kind, "subject": request.subject_refs, "status": request.status},
        )
        if not waits:
            _queue_on_commit(request.pk)
    return request


def subject_request_approve(*, request: SubjectRequest, user: Any, actor: Actor) -> SubjectRequest:
    """The second pair of eyes on an erasure: another compliance officer than the one who opened it."""
    _require_officer(user)
    with transaction.atomic():
        locked = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != Status.AWAITING_APPROVAL:
            raise SubjectRequestError(f"This request is {locked.status}, not awaiting approval.")
        if locked.requested_by_id == user.pk:
            raise SubjectRequestError("A second compliance officer must approve an erasure you opened.")
        locked.status, locked.approved_by, locked.approved_at = Status.QUEUED, user, timezone.now()
        locked.save(update_fields=["status", "approved_by", "approved_at"])
        audit_record(
            action="subject_request.approve",
            actor=actor,
            target_type="subject_request",
            target_id=locked.pk,
            details={"kind": locked.kind, "subject": locked.subject_refs},
        )
        _queue_on_commit(locked.pk)
    return locked


def subject_request_reject(
    *, request: SubjectRequest, user: Any, actor: Actor, reason: str = ""
) -> SubjectRequest:
    """Close an open request without processing it (the identifiers are wiped)."""
    _require_officer(user)
    with transaction.atomic():
        locked = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status not in (Status.AWAITING_APPROVAL, Status.QUEUED, Status.FAILED):
            raise SubjectRequestError(f"This request is {locked.status}; it cannot be rejected now.")
        locked.status, locked.completed_at = Status.REJECTED, timezone.now()
        locked.sealed_identifiers = ""
        locked.error = reason.strip()[:500]
        locked.save(update_fields=["status", "completed_at", "sealed_identifiers", "error"])
        audit_record(
            action="subject_request.reject",
            actor=actor,
            target_type="subject_request",
            target_id=locked.pk,
            details={"kind": locked.kind, "subject": locked.subject_refs},
        )
    return locked


def _queue_on_commit(request_id: int) -> None:
    def send() -> None:
        try:
            # By name: the task module (an adapter) imports this workflow, never the other way round.
            current_app.send_task(PROCESS_TASK, args=[request_id])
        except BrokerUnavailable:
            logger.warning("broker unreachable; subject request %s waits for the sweep", request_id)

    transaction.on_commit(send)


def subject_requests_requeue(*, older_than_s: int = 600) -> int:
    """Send again queued requests whose message was lost, and processing ones whose worker died."""
    now = timezone.now()
    stale = SubjectRequest.objects.filter(
        Q(status=Status.QUEUED, created_at__lt=now - timedelta(seconds=older_than_s))
        | Q(status=Status.PROCESSING, started_at__lt=now - timedelta(seconds=PROCESSING_LEASE_S))
    )
    ids = list(stale.values_list("pk", flat=True))
    overdue = SubjectRequest.objects.filter(overdue_q(now)).count()
    if overdue:
        # Ids and counts only: the compliance pages and GET /api/v1/subject-requests?overdue=1 list them.
        logger.warning("%d data-subject request(s) are past their 30-day due date", overdue)
    for request_id in ids:
        SubjectRequest.objects.filter(pk=request_id, status=Status.PROCESSING).update(status=Status.QUEUED)
        _queue_on_commit(request_id)
    return len(ids)


def subject_request_process(*, request_id: int, actor: Actor = SYSTEM) -> SubjectRequest | None:
    """Run a queued request (the Celery task calls this). One run at a time per request: the claim is an
    atomic status change; a crash rolls the work back and the sweep sends it again."""
    stale = timezone.now() - timedelta(seconds=PROCESSING_LEASE_S)
    claimed = (
        SubjectRequest.objects.filter(pk=request_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.PROCESSING, started_at__lt=stale))
        .update(status=Status.PROCESSING, started_at=timezone.now())
    )
    if not claimed:
        return SubjectRequest.objects.filter(pk=request_id).first()
    request = SubjectRequest.objects.get(pk=request_id)
    try:
        identifiers = sealing.unseal(request.sealed_identifiers, purpose=SEAL_PURPOSE)
        if request.kind == Kind.ACCESS:
            return _access(request, identifiers, actor)
        return _erase(request, identifiers, actor)
    except (OperationalError, InterfaceError):
        # The database went away: nothing was committed; the task retries it (or the sweep sends it again).
        SubjectRequest.objects.filter(pk=request_id, status=Status.PROCESSING).update(status=Status.QUEUED)
        raise
    except Exception as exc:
        logger.exception("subject request %s failed", request_id)
        SubjectRequest.objects.filter(pk=request_id, status=Status.PROCESSING).update(
            status=Status.FAILED, error=f"{type(exc).__name__}: processing failed; see the worker log."
        )
        audit_record(
            action=f"subject_request.{request.kind}",
            actor=actor,
            outcome="failed",
            target_type="subject_request",
            target_id=request_id,
            details={"error": type(exc).__name__},
        )
        raise


def subject_request_retry(*, request: SubjectRequest, user: Any, actor: Actor) -> SubjectRequest:
    _require_officer(user)
    updated = SubjectRequest.objects.filter(pk=request.pk, status=Status.FAILED).update(
        status=Status.QUEUED, error=""
    )
    if not updated:
        raise SubjectRequestError("Only a failed request can be retried.")
    audit_record(
        action="subject_request.retry", actor=actor, target_type="subject_request", target_id=request.pk
    )
    with transaction.atomic():
        _queue_on_commit(request.pk)
    return SubjectRequest.objects.get(pk=request.pk)


def is_overdue(request: SubjectRequest, now: Any = None) -> bool:
    return request.status in UNANSWERED and request.due_at < (now or timezone.now())


def overdue_q(now: Any = None) -> Q:
    return Q(status__in=UNANSWERED, due_at__lt=now or timezone.now())


# --- access -----------------------------------------------------------------------------------------------


def _own_text(text: str, own: set[str], own_pseudonyms: set[str]) -> str:
    """A passage as shown to the subject: their own data as stored, everyone else's masked to its type."""

    def foreign_marker(match: re.Match[str]) -> str:
        # <TCKN_1> masks tell nothing; a pseudonym of someone else is replaced by its type.
        return (
            match.group(0)
            if match.group(0) in own_pseudonyms or match.group(2).isdecimal()
            else f"<{match.group(1)}>"
        )

    text = MARKER.sub(foreign_marker, text)
    parts, cursor = [], 0
    for finding in engine.analyze(text):
        value = text[finding.start : finding.end]
        if subject_key(finding.entity_type, value) in own:
            continue
        parts.append(text[cursor : finding.start] + f"<{finding.entity_type}>")
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


def subject_access_export(identifiers: dict[str, list[str]]) -> dict[str, Any]:
    """Everything held about the subject, for the person (GDPR Art. 15 / KVKK Art. 11)."""
    found = subject_find(identifiers)
    own = subject_keys(identifiers)
    own_pseudonyms = {f"<{t}_{pseudonym(t, v)}>" for t, v in _pairs(identifiers)}
    chunks = chunks_for_export(chunk_ids=found.chunks)
    document_ids = {c.document_id for c in chunks} | found.titled_documents | found.unindexed_documents
    documents = documents_by_id(document_ids=document_ids)
    collection_ids = {d.collection_id for d in documents.values()}
    collections = collections_by_id(collection_ids=collection_ids)
    records = {r.collection_id: r for r in ProcessingRecord.objects.filter(collection_id__in=collection_ids)}
    by_document: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks:
        by_document[chunk.document_id].append(
            {
                "chunk_id": chunk.pk,
                "ordinal": chunk.ordinal,
                "page": chunk.page,
                "section": _own_text(chunk.section, own, own_pseudonyms),
                "text": _own_text(chunk.text, own, own_pseudonyms),
                "found_by": [
                    name
                    for name, ids in (("subject_index", found.by_index), ("exact_search", found.by_exact))
                    if chunk.pk in ids
                ],
                "personal_data_types": sorted(found.entity_types.get(chunk.pk, ())),
                "special_categories": list(chunk.special_categories),
            }
        )
    users = _usernames()
    export_documents: list[dict[str, Any]] = [
        {
            "document_id": d.pk,
            "collection_id": d.collection_id,
            "title": _own_text(d.title, own, own_pseudonyms),
            "held_since": d.created_at.isoformat(),
            "ingested_at": d.ingested_at.isoformat() if d.ingested_at else None,
            "uploaded_by": users.get(d.uploaded_by_id or 0, ""),
            "original_file_held": bool(d.file_path),
            "status": d.status,  # not "ready": held as the uploaded file only, found by searching it
            "sha256": d.sha256,
            "passages": by_document.get(d.pk, []),
        }
        for d in sorted(documents.values(), key=lambda d: (d.created_at, d.pk))
    ]
    export_collections = []
    for collection_id in sorted(collection_ids):
        entry = entry_of(records.get(collection_id))
        export_collections.append(
            {
                "collection_id": collection_id,
                "name": collections[collection_id].name,
                "purpose": entry.purpose,
                "legal_basis": entry.legal_basis,
                "gdpr_basis": GDPR_BASIS.get(entry.legal_basis, ""),  # type: ignore[call-overload]
                "data_categories": list(entry.data_categories),
                "recipients": list(entry.recipients),
                "retention_days": entry.retention_days,
                "special_categories": entry.special_categories,
            }
        )
    answers = answers_asked(answer_ids=found.answers)
    since = min((d.created_at for d in documents.values()), default=None)
    return {
        "held": bool(export_documents or found.answers),
        "held_since": since.isoformat() if since else None,
        "summary": {
            "collections": len(export_collections),
            "documents": len(export_documents),
            "passages": len(chunks),
            "questions_and_answers": len(found.answers),
        },
        "collections": export_collections,
        "documents": export_documents,
        "questions_and_answers": [
            {
                "answer_id": a.pk,
                "asked_at": a.created_at.isoformat(),
                "asked_by": users.get(a.conversation.user_id, ""),
                "question": _own_text(a.question, own, own_pseudonyms),
            }
            for a in answers
        ],
        "accessed": _accesses(document_ids, {c.pk for c in chunks}, users),
        # Failed uploads whose file could not be read as text: they may mention the person; an officer checks.
        "unsearchable_documents": _unsearchable(found.unsearchable_documents),
    }


def _unsearchable(document_ids: set[int]) -> list[dict[str, Any]]:
    return [
        {
            "document_id": d.pk,
            "collection_id": d.collection_id,
            "status": d.status,
            "uploaded_at": d.created_at.isoformat(),
        }
        for d in documents_by_id(document_ids=document_ids).values()
    ]


def _usernames() -> dict[int, str]:
    return dict(get_user_model().objects.values_list("pk", "username"))


def _accesses(document_ids: set[int], chunk_ids: set[int], users: dict[int, str]) -> list[dict[str, Any]]:
    """Who retrieved the subject's passages or opened their documents, per the audit trail."""
    if not document_ids and not chunk_ids:
        return []
    condition = Q(
        action__in=["document.view", "document.upload"], target_id__in=[str(i) for i in document_ids]
    )
    for chunk_id in sorted(chunk_ids)[:1000]:
        condition |= Q(action="search", details__chunks__contains=[chunk_id])
        condition |= Q(action="ask", details__chunks__contains=[{"chunk_id": chunk_id}])
    rows = []
    for event in AuditEvent.objects.filter(condition).order_by("seq")[:5000]:
        chunks = event.details.get("chunks", []) if isinstance(event.details, dict) else []
        ids = [c["chunk_id"] if isinstance(c, dict) else c for c in chunks]
        rows.append(
            {
                "seq": event.seq,
                "at": event.created_at.isoformat(),
                "action": event.action,
                "user": users.get(event.actor_user_id or 0, ""),
                "role": event.role,
                "document_id": int(event.target_id) if event.target_type == "document" else None,
                "passages": sorted(set(ids) & chunk_ids),
            }
        )
    return rows


def _access(request: SubjectRequest, identifiers: dict[str, list[str]], actor: Actor) -> SubjectRequest:
    export = subject_access_export(identifiers)
    export = {
        "request_id": request.pk,
        "kind": "access",
        "generated_at": timezone.now().isoformat(),
        "identifier_types": request.identifier_types,
        **export,
    }
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != Status.PROCESSING:  # another run finished it meanwhile
            return request
        _complete(
            request,
            result=export,
            action="subject_request.access",
            actor=actor,
            details={
                "subject": request.subject_refs,
                "summary": export["summary"],
                "export_sha256": hashlib.sha256(_canonical(export).encode()).hexdigest(),
                "documents": [d["document_id"] for d in export["documents"]],
            },
        )
    return request


def _complete(
    request: SubjectRequest, *, result: dict[str, Any], action: str, actor: Actor, details: dict[str, Any]
) -> None:
    """Close a request with its export or receipt, wipe the identifiers, and say so in the audit trail — in
    the caller's transaction, so that all of it happens with the work or none of it does."""
    request.result = result
    request.status, request.completed_at = Status.COMPLETED, timezone.now()
    request.sealed_identifiers = ""
    request.save(update_fields=["result", "status", "completed_at", "sealed_identifiers"])
    audit_record(
        action=action, actor=actor, target_type="subject_request", target_id=request.pk, details=details
    )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# --- erasure ----------------------------------------------------------------------------------------------


def _erase(request: SubjectRequest, identifiers: dict[str, list[str]], actor: Actor) -> SubjectRequest:
    with transaction.atomic():
        # Runs of the same request (a redelivery) queue up here; the second finds it done and stops.
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != Status.PROCESSING:
            return request
        found = subject_find(identifiers)
        # Counted first: deleting the chunks deletes their rows too.
        mentions = SubjectMention.objects.filter(subject__in=subject_keys(identifiers)).count()
        chunk_rows = chunk_texts(chunk_ids=found.chunks)
        hit_documents = (
            {document_id for _pk, document_id, _text in chunk_rows}
            | found.titled_documents
            | found.unindexed_documents
        )
        documents = documents_locked(document_ids=hit_documents)
        scopes = dict(
            ProcessingRecord.objects.filter(
                collection_id__in={d.collection_id for d in documents.values()}
            ).values_list("collection_id", "erasure_scope")
        )
        whole = {
            d.pk
            for d in documents.values()
            if d.pk in found.titled_documents
            or d.pk in found.unindexed_documents  # in flight or failed: only the whole document can go
            or scopes.get(d.collection_id) == ProcessingRecord.ErasureScope.DOCUMENT
        }
        partial_chunks = [
            (pk, doc, text) for pk, doc, text in chunk_rows if doc not in whole and doc in documents
        ]
        # A document left without passages goes whole.
        remaining = chunks_left(
            document_ids={doc for _pk, doc, _t in partial_chunks},
            excluding=[pk for pk, _doc, _t in partial_chunks],
        )
        whole |= {doc for _pk, doc, _t in partial_chunks if not remaining.get(doc)}
        partial_chunks = [(pk, doc, text) for pk, doc, text in partial_chunks if doc not in whole]

        removed_chunks = [
            {"chunk_id": pk, "document_id": doc, "sha256": hashlib.sha256(text.encode()).hexdigest()}
            for pk, doc, text in partial_chunks
        ]
        removed_chunks += [
            {"chunk_id": pk, "document_id": doc, "sha256": hashlib.sha256(text.encode()).hexdigest()}
            for pk, doc, text in document_chunk_texts(document_ids=whole)
        ]
        removed_ids = [c["chunk_id"] for c in removed_chunks]
        # Cached answers that quoted a passage mentioning the subject, or name them. Answers that cited another
        # passage of a document destroyed whole keep their text; their citation's copy goes with the document.
        answers = set(found.answers) | answers_citing(chunk_ids=found.chunks)
        dropped = answers_delete(answer_ids=answers, retitle_conversation_ids=found.conversations)

        files = 0
        partial_documents: dict[int, list[int]] = defaultdict(list)
        for pk, doc, _text in partial_chunks:
            partial_documents[doc].append(pk)
        for doc, pks in partial_documents.items():
            files += passages_delete(document=documents[doc], chunk_ids=pks)
        destroyed = []
        for doc in sorted(whole):
            deleted = document_delete(
                document=documents[doc],
                actor=actor,
                action="subject_request.destroy_document",
                details={"request_id": request.pk},
            )
            destruction_record(
                deleted,
                reason=DestructionRecord.Reason.ERASURE,
                run_id=f"erasure-{request.pk}",
                destroyed_by=actor.user_id,
            )
            destroyed.append({"document_id": doc, "sha256": deleted.sha256, "chunks": deleted.chunks})
        SubjectMention.objects.filter(subject__in=subject_keys(identifiers)).delete()

        # Proof: the same two searches again, inside the same transaction, must find nothing.
        after = subject_find(identifiers)
        if after.total():
            raise RuntimeError(f"erasure incomplete: {after.total()} occurrence(s) still found")
        hashes = sorted(str(c["sha256"]) for c in removed_chunks)
        receipt = {
            "request_id": request.pk,
            "kind": "erasure",
            "erased_at": timezone.now().isoformat(),
            "requested_by": request.requested_by_id,
            "approved_by": request.approved_by_id,
            "executed_by": actor.user_id,
            "identifier_types": request.identifier_types,
            "subject": request.subject_refs,
            "counts": {
                "chunks": len(removed_chunks),
                "vectors": len(removed_chunks),
                "documents_destroyed": len(destroyed),
                "documents_redacted": len(partial_documents),
                "source_files": files + sum(1 for d in whole if documents[d].file_path),
                "subject_index_rows": mentions,
                "answers": dropped.answers,
                "citations": dropped.citations,
                "conversations_deleted": dropped.conversations_deleted,
                "conversations_retitled": dropped.conversations_retitled,
            },
            "collections": sorted({documents[d].collection_id for d in documents}),
            "documents_destroyed": destroyed,
            "documents_redacted": sorted(partial_documents),
            "chunks": removed_chunks,
            "chunks_digest": hashlib.sha256("".join(hashes).encode()).hexdigest(),
            # Could not be searched (failed uploads that do not read as text): for an officer to check and delete.
            "unsearchable_documents": _unsearchable(after.unsearchable_documents),
            "verification": {
                "subject_index_hits": len(after.by_index),
                "exact_search_hits": len(after.by_exact),
                "other_hits": len(after.titled_documents)
                + len(after.answers)
                + len(after.conversations)
                + len(after.unindexed_documents),
                "patterns": len(identifier_patterns(identifiers)),
            },
        }
        # Earlier access exports of this subject hold their passages in clear: they go too. They are recognised
        # by the subject's pseudonyms, which exist until the keys are shredded just below.
        # Also any export that held a passage just removed or whose text names the person (an export made with
        # other identifiers than this erasure's).
        own_refs = {ref for refs in request.subject_refs.values() for ref in refs}
        removed = set(removed_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM governance_subjectrequest WHERE kind = 'access' AND result::text ~* %s",
                [_regex(identifiers)],
            )
            naming = {row[0] for row in cursor.fetchall()}
        wiped = 0
        linked_refs: set[str] = set()
        for earlier in SubjectRequest.objects.select_for_update().filter(kind=Kind.ACCESS).exclude(result={}):
            held = {
                passage.get("chunk_id")
                for document in (earlier.result.get("documents") or [])
                for passage in (document.get("passages") or [])
            }
            theirs = {ref for refs in earlier.subject_refs.values() for ref in refs}
            if own_refs & theirs or held & removed or earlier.pk in naming:
                earlier.result = {"erased": True, "by_erasure_request": request.pk}
                earlier.save(update_fields=["result"])
                wiped += 1
                linked_refs |= theirs
        receipt["counts"]["access_exports_wiped"] = wiped
        keys = _shred(request, identifiers, linked_refs)
        receipt["subject_keys_shredded"] = keys
        _complete(
            request,
            result=receipt,
            action="subject_request.erasure_receipt",
            actor=actor,
            details={k: v for k, v in receipt.items() if k not in {"chunks", "request_id", "kind"}},
        )
    chunks_vacuum()
    return request


def _shred(request: SubjectRequest, identifiers: dict[str, list[str]], linked_refs: set[str]) -> int:
    """Destroy the subject's pseudonym keys: those of the identifiers given, and those of identifiers given in
    earlier requests about the same person (recognised by a shared pseudonym, or by an export that held their
    passages) — an access request that also named a phone number must not stay linkable through it. Returns
    how many keys were destroyed."""
    refs = {ref for values in request.subject_refs.values() for ref in values}
    linked = refs | linked_refs  # the pseudonyms of the exports just wiped are this person's too
    for earlier in SubjectRequest.objects.exclude(pk=request.pk).only("subject_refs"):
        theirs = {ref for values in (earlier.subject_refs or {}).values() for ref in values}
        if theirs & refs:
            linked |= theirs
    doomed = set(SubjectKey.objects.filter(lookup__in=subject_keys(identifiers)).values_list("pk", flat=True))
    if linked - refs:
        for key in SubjectKey.objects.exclude(pk__in=doomed).iterator():
            if _ref(key) in linked:
                doomed.add(key.pk)
    return SubjectKey.objects.filter(pk__in=doomed).delete()[0]
