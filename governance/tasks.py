"""Celery tasks of the governance layer: adapters around services."""

from __future__ import annotations

from celery import shared_task

from governance.audit import audit_checkpoint as _audit_checkpoint


@shared_task(name="governance.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int | None:
    """Sign the current end of the audit trail. Idempotent: another checkpoint of the same end is harmless."""
    checkpoint = _audit_checkpoint()
    return checkpoint.seq if checkpoint else None
