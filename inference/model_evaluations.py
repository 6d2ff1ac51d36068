"""Which evaluation runs a registered model passed: written when a run completes, withdrawn when its set's
questions change; the serving gate reads it under MODEL_SWITCH_REQUIRES_EVAL (inference.gate). A primitive."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from governance.audit import SYSTEM, Actor, audit_record
from inference.models import RegisteredModel


def model_evaluated(
    *,
    served_name: str,
    set_id: int,
    run_id: int,
    passed: bool,
    failures: list[str],
    root: str = "",
    actor: Actor = SYSTEM,
) -> RegisteredModel | None:
    """Record that a run of an evaluation set completed on this model, and whether it passed (the serving gate
    reads the set MODEL_SWITCH_REQUIRES_EVAL names). Audits ``model.evaluation``. None when the model is not
    registered."""
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().filter(served_name=served_name).first()
        if model is None:
            return None
        record = {
            "run": run_id,
            "passed": passed,
            "failures": failures,
            "root": root,  # the weights the server had loaded behind the name (vLLM's root)
            "at": timezone.now().isoformat(),
        }
        model.evaluations = {**model.evaluations, str(set_id): record}
        model.save(update_fields=["evaluations", "updated_at"])
        audit_record(
            action="model.evaluation",
            actor=actor,
            outcome="ok" if passed else "failed",
            target_type="registered_model",
            target_id=model.pk,
            details={"served_name": served_name, "set": set_id, **record},
        )
    return model


def evaluations_invalidate(*, set_id: int, actor: Actor = SYSTEM) -> int:
    """The set's questions changed: no model keeps a pass (or failure) recorded against its old questions.
    Audits ``model.evaluation_invalidated`` per model. Returns how many models had a record."""
    key = str(set_id)
    count = 0
    with transaction.atomic():
        for model in RegisteredModel.objects.select_for_update().filter(evaluations__has_key=key):
            record = model.evaluations.pop(key)
            model.save(update_fields=["evaluations", "updated_at"])
            audit_record(
                action="model.evaluation_invalidated",
                actor=actor,
                target_type="registered_model",
                target_id=model.pk,
                details={"served_name": model.served_name, "set": set_id, "run": record.get("run")},
            )
            count += 1
    return count
