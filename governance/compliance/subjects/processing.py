"""Running a queued request (the Celery task calls ``subject_request_process``): claim it, then produce the
access export or carry out the erasure; a failure is recorded, a lost database connection sends it back to
the queue."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import InterfaceError, OperationalError
from django.db.models import Q
from django.utils import timezone

from governance import sealing
from governance.audit import SYSTEM, Actor, audit_record
from governance.compliance.subjects.erasure import subject_erase
from governance.compliance.subjects.export import subject_access
from governance.compliance.subjects.lifecycle import PROCESSING_LEASE_S, SEAL_PURPOSE, Kind, Status
from governance.models import SubjectRequest

logger = logging.getLogger(__name__)


def subject_request_process(*, request_id: int, actor: Actor | None = None) -> SubjectRequest | None:
    """Run a queued request (the Celery task calls this). One run at a time per request: the claim is an
    atomic status change; a crash rolls the work back and the sweep sends it again. Its events name the
    officer on whose decision it runs (the approving one, else the requesting one), not the worker."""
    stale = timezone.now() - timedelta(seconds=PROCESSING_LEASE_S)
    claimed = (
        SubjectRequest.objects.filter(pk=request_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.PROCESSING, started_at__lt=stale))
        .update(status=Status.PROCESSING, started_at=timezone.now())
    )
    if not claimed:
        return SubjectRequest.objects.filter(pk=request_id).first()
    request = SubjectRequest.objects.get(pk=request_id)
    if actor is None:
        officer_id = request.approved_by_id or request.requested_by_id
        actor = Actor(user_id=officer_id, role="compliance_officer") if officer_id else SYSTEM
    try:
        identifiers = sealing.unseal(request.sealed_identifiers, purpose=SEAL_PURPOSE)
        if request.kind == Kind.ACCESS:
            return subject_access(request=request, identifiers=identifiers, actor=actor)
        return subject_erase(request=request, identifiers=identifiers, actor=actor)
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
