"""A data-subject request's life: opened (due in 30 days), approved by a second officer when it is an
erasure, rejected, queued for a worker (by task name), sent again when its message or worker was lost,
retried after a failure, overdue, and completed — with its export or receipt, its identifiers wiped, and an
audit event, all in one transaction."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError as BrokerUnavailable

from governance import sealing
from governance.audit import Actor, audit_record
from governance.compliance.subjects.identifiers import (
    IDENTIFIERS,
    SubjectRequestError,
    identifiers_clean,
    subject_refs,
)
from governance.models import SubjectRequest
from governance.pii.redaction import ENTITY_TYPES, Action, Policy, Redactor
from governance.roles import is_compliance_officer

logger = logging.getLogger(__name__)

PROCESS_TASK = "governance.tasks.subject_request_process"
# Notes and reasons: every identifier pseudonymised (searchable by the exact search, never in clear).
NOTE_POLICY = Policy({entity_type: Action.HASH for entity_type in ENTITY_TYPES})

DUE_DAYS = 30  # KVKK Art. 13: at the latest thirty days
SEAL_PURPOSE = "subject-request"
# A run older than this is presumed dead (its worker crashed) and may be taken over.
PROCESSING_LEASE_S = 1800
Kind = SubjectRequest.Kind
Status = SubjectRequest.Status
OPEN = (Status.AWAITING_APPROVAL, Status.QUEUED, Status.PROCESSING)
# Not answered yet: a failed request still owes the person an answer by its due date.
UNANSWERED = (*OPEN, Status.FAILED)


# --- requests -------------------------------------------------------------------------------------------


def _require_officer(user: Any) -> None:
    if not is_compliance_officer(user):
        raise SubjectRequestError("Only compliance officers handle data-subject requests.")


def note_redacted(note: str) -> str:
    """A request's note or reason as stored: identifiers in it become their pseudonyms (``<EMAIL_3fa9…>``),
    the same ones the exact search looks for, so a later request about that person finds the note and its
    erasure removes them."""
    return Redactor(policy=NOTE_POLICY).redact(note.strip()[:500])


@sensitive_variables("identifiers", "clean", "note")
def subject_request_create(
    *,
    kind: str,
    identifiers: Any,
    user: Any,
    actor: Actor,
    note: str = "",
    include_special: bool = False,
) -> SubjectRequest:
    """Open a request, due in 30 days. An erasure waits for a second officer when DSR_ERASURE_APPROVAL is on;
    so does an access request that asks for special-category passages beyond the officer's own ``special``
    grants (``include_special``); otherwise the request is queued for processing at once."""
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
    include_special = include_special and kind == Kind.ACCESS
    waits = (kind == Kind.ERASURE and settings.DSR_ERASURE_APPROVAL) or include_special
    with transaction.atomic():
        request = SubjectRequest.objects.create(
            kind=kind,
            status=Status.AWAITING_APPROVAL if waits else Status.QUEUED,
            identifier_types=sorted(IDENTIFIERS[name] for name in clean),
            sealed_identifiers=sealing.seal(clean, purpose=SEAL_PURPOSE),
            subject_refs=subject_refs(clean, create=True),
            note=note_redacted(note),
            include_special=include_special,
            requested_by=user,
            due_at=timezone.now() + timedelta(days=DUE_DAYS),
        )
        details = {"kind": kind, "subject": request.subject_refs, "status": request.status}
        if include_special:
            details["include_special"] = True
        audit_record(
            action="subject_request.create",
            actor=actor,
            target_type="subject_request",
            target_id=request.pk,
            details=details,
        )
        if not waits:
            _queue_on_commit(request.pk)
    return request


def subject_request_approve(*, request: SubjectRequest, user: Any, actor: Actor) -> SubjectRequest:
    """The second pair of eyes on an erasure, or on an access export with special-category passages: another
    compliance officer than the one who opened it."""
    _require_officer(user)
    with transaction.atomic():
        locked = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != Status.AWAITING_APPROVAL:
            raise SubjectRequestError(f"This request is {locked.status}, not awaiting approval.")
        if locked.requested_by_id == user.pk:
            raise SubjectRequestError("A second compliance officer must approve a request you opened.")
        locked.status, locked.approved_by, locked.approved_at = Status.QUEUED, user, timezone.now()
        locked.save(update_fields=["status", "approved_by", "approved_at"])
        details: dict[str, Any] = {"kind": locked.kind, "subject": locked.subject_refs}
        if locked.include_special:
            details["include_special"] = True  # this approval releases special-category passages
        audit_record(
            action="subject_request.approve",
            actor=actor,
            target_type="subject_request",
            target_id=locked.pk,
            details=details,
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
        locked.error = note_redacted(reason)
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


def request_complete(
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
