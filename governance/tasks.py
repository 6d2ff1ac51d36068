"""Celery tasks of the governance layer: adapters around services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from governance.audit import Actor
from governance.audit import audit_checkpoint as _audit_checkpoint
from governance.audit.denied import audit_denied_flush as _audit_denied_flush
from governance.compliance.evaluation import evaluation_run_create
from governance.compliance.evaluation import evaluation_run_execute as _evaluation_run_execute
from governance.compliance.evaluation_upkeep import evaluation_runs_requeue
from governance.compliance.retention import retention_run as _retention_run
from governance.compliance.subjects import PROCESS_TASK, subject_requests_requeue
from governance.compliance.subjects import subject_request_process as _subject_request_process
from governance.models import EvaluationRun


@shared_task(name="governance.tasks.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int | None:
    """Sign the current end of the audit trail. Idempotent: another checkpoint of the same end is harmless."""
    checkpoint = _audit_checkpoint()
    return checkpoint.seq if checkpoint else None


@shared_task(name="governance.tasks.audit_denied_flush", ignore_result=True)
def audit_denied_flush() -> int:
    """Write the summaries of denied requests counted in past minutes. Idempotent: each minute's counters are
    claimed atomically and written once."""
    return _audit_denied_flush()


@shared_task(name="governance.tasks.retention_run", ignore_result=True)
def retention_run() -> int:
    """Periodic destruction of expired documents. Idempotent, and a second run at the same time returns."""
    return len(_retention_run().documents)


@shared_task(
    name=PROCESS_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def subject_request_process(request_id: int) -> str:
    """Process one data-subject request. All of an erasure happens in one transaction: a crash or a retry
    starts it again from the beginning."""
    request = _subject_request_process(request_id=request_id)
    return str(request.status) if request else "gone"


@shared_task(name="governance.tasks.requeue_subject_requests", ignore_result=True)
def requeue_subject_requests() -> int:
    return subject_requests_requeue()


@shared_task(name="governance.tasks.evaluation_run", acks_late=True, ignore_result=True)
def evaluation_run(run_id: int, actor_user_id: int | None = None, actor_role: str = "system") -> str:
    """Run one queued evaluation run. Idempotent: the run is claimed (queued → running) atomically, so a
    redelivered task returns without asking again."""
    run = _evaluation_run_execute(run_id=run_id, actor=Actor(user_id=actor_user_id, role=actor_role))
    return str(run.status) if run else "claimed or gone"


@shared_task(name="governance.tasks.requeue_evaluation_runs", ignore_result=True)
def requeue_evaluation_runs() -> int:
    """Send again the evaluation runs whose message was lost or whose worker died."""
    return evaluation_runs_requeue()


def evaluation_run_queue(*, set_id: int, user: Any, actor: Actor) -> EvaluationRun:
    """Create a run of the set and queue it after commit: the API (governance.evaluation_apis) and the portal's
    Models page. The questions are asked as ``user``, the requesting officer or administrator, under their own
    access: nobody runs a set as somebody else (their conversations and what they may read are theirs);
    `manage.py evaluate --user` is the server operator's choice."""
    run = evaluation_run_create(set_id=set_id, user=user, run_as=user, actor=actor)
    transaction.on_commit(lambda: evaluation_run.delay(run.pk, actor.user_id, actor.role))
    return run
