"""Keeping evaluation sets and runs in order: edit a question, build a regression set from the answer
log, and send again the runs whose worker died.

    evaluation_item_update (audited; a question's expected documents and fact are usually added after a set
        was built from 👎 feedback or the answer log)
    evaluation_set_from_answers (answered questions of a collection, each expecting the documents it cited)
    evaluation_runs_requeue (beat: queued runs whose message was lost, running ones past their lease)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from governance.audit import SYSTEM, Actor, audit_record
from governance.compliance.evaluation import (
    FROM_ANSWERS,
    MAX_ITEMS,
    EvaluationError,
    evaluation_collection_visible,
    evaluation_set_create,
    item_spec,
)
from governance.models import EvaluationItem, EvaluationRun, EvaluationSet
from governance.roles import is_admin
from inference.model_evaluations import evaluations_invalidate
from rag.selectors.access import readable_collections
from rag.selectors.feedback import answers_existing, answers_logged

RUN_TASK = "governance.tasks.evaluation_run"
ITEM_FIELDS = ("question", "expected_document_ids", "expected_fact", "not_in_documents")


def evaluation_item_update(
    *, item: EvaluationItem, changes: dict[str, Any], actor: Actor = SYSTEM
) -> EvaluationItem:
    """Change a question, its expected documents or fact, or mark it "not in the documents". Validated as an
    imported item is. Audits ``evaluation.item_update`` with the names of the fields changed (not the text:
    questions may quote personal data)."""
    unknown = set(changes) - set(ITEM_FIELDS)
    if unknown:
        raise EvaluationError(f"unknown fields: {', '.join(sorted(unknown))}")
    merged = {name: getattr(item, name) for name in ITEM_FIELDS} | changes
    spec = item_spec(merged, item.pk)
    with transaction.atomic():
        item.question = spec.question
        item.expected_document_ids = spec.expected_document_ids
        item.expected_fact = spec.expected_fact
        item.not_in_documents = spec.not_in_documents
        item.save(update_fields=list(ITEM_FIELDS))
        audit_record(
            action="evaluation.item_update",
            actor=actor,
            target_type="evaluation_item",
            target_id=item.pk,
            details={"set": item.evaluation_set_id, "fields": sorted(changes)},
        )
        # A pass against the old questions proves nothing about the new ones (MODEL_SWITCH_REQUIRES_EVAL).
        evaluations_invalidate(set_id=item.evaluation_set_id, actor=actor)
    return item


def evaluation_sets_visible(user: Any) -> QuerySet[EvaluationSet]:
    """The sets a user may see (their questions are the collection's): administrators all, others those of
    collections they can read."""
    sets = EvaluationSet.objects.all()
    return sets if is_admin(user) else sets.filter(collection__in=readable_collections(user))


def evaluation_items_prune(*, actor: Actor = SYSTEM) -> int:
    """Questions copied from answers (👎 feedback, the answer log) go when their answer goes — erasure of a data
    subject, conversation retention, a user deleting a conversation — with their past results. Called by the
    erasure and the retention run. Audits ``evaluation.items_prune`` (counts, set ids). Returns how many."""
    copied = EvaluationItem.objects.filter(source__in=FROM_ANSWERS, source_answer_id__isnull=False)
    sources = {int(i) for i in copied.values_list("source_answer_id", flat=True) if i is not None}
    gone = sources - answers_existing(answer_ids=sources)
    if not gone:
        return 0
    orphans = copied.filter(source_answer_id__in=gone)
    sets = sorted(set(orphans.values_list("evaluation_set_id", flat=True)))
    count = orphans.count()
    orphans.delete()
    audit_record(
        action="evaluation.items_prune",
        actor=actor,
        target_type="evaluation_set",
        details={"items": count, "sets": sets},
    )
    return count


def evaluation_set_from_answers(
    *, collection_id: int, limit: int = 100, actor: Actor = SYSTEM, user: Any = None, name: str = ""
) -> EvaluationSet:
    """A regression set from the answer log: the collection's answered questions (not rated 👎), newest
    first, each expecting the documents its answer cited. Run against a candidate model or new settings, it
    says whether what worked still works."""
    if not 0 < limit <= MAX_ITEMS:
        raise EvaluationError(f"limit: 1 to {MAX_ITEMS}")
    if user is not None and not evaluation_collection_visible(user, collection_id):
        raise EvaluationError("you cannot read this collection")
    logged = answers_logged(collection_id=collection_id, limit=limit)
    if not logged:
        raise EvaluationError("no answered questions citing this collection")
    items = [
        {"question": answer.question, "expected_document_ids": documents, "source_answer_id": answer.pk}
        for answer, documents in logged
    ]
    return evaluation_set_create(
        collection_id=collection_id,
        name=name or f"answer log {timezone.now():%Y-%m-%d}",
        items=items,
        actor=actor,
        user=user,
        source=EvaluationItem.Source.ANSWER_LOG,
    )


def _queue_on_commit(run_id: int, actor: Actor) -> None:
    def send() -> None:
        try:
            current_app.send_task(RUN_TASK, args=[run_id, actor.user_id, actor.role])
        except BrokerUnavailable:
            pass  # still queued: the next requeue sends it

    transaction.on_commit(send)


def evaluation_runs_requeue(*, older_than_s: int = 600, actor: Actor = SYSTEM) -> int:
    """Send again queued runs whose message was lost, and running ones whose worker died (no heartbeat for
    EVALUATION_RUN_LEASE_S). Safe: results are written only when a run completes, the claim (queued → running)
    lets one worker take it, and a worker that lost its claim stops. Audits ``evaluation.requeue`` for each
    running run taken over (a queued run sent again changes nothing). Returns how many were sent."""
    now = timezone.now()
    lease = now - timedelta(seconds=settings.EVALUATION_RUN_LEASE_S)
    stale = EvaluationRun.objects.filter(
        Q(status=EvaluationRun.Status.QUEUED, created_at__lt=now - timedelta(seconds=older_than_s))
        | Q(status=EvaluationRun.Status.RUNNING, heartbeat_at__lt=lease)
    )
    ids = list(stale.values_list("pk", flat=True))
    for run_id in ids:
        with transaction.atomic():
            taken = EvaluationRun.objects.filter(
                pk=run_id, status=EvaluationRun.Status.RUNNING, heartbeat_at__lt=lease
            ).update(status=EvaluationRun.Status.QUEUED, started_at=None, heartbeat_at=None)
            if taken:
                audit_record(
                    action="evaluation.requeue", actor=actor, target_type="evaluation_run", target_id=run_id
                )
            _queue_on_commit(run_id, actor)
    return len(ids)
