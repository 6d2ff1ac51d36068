"""Hashing a registered model's weights after its registration (a worker's job for weights over
MODEL_HASH_INLINE_BYTES: a 7B model is ~15 GB, too long for a web request). A primitive: the registry's table
and the audit trail, nothing above."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import current_app
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from governance.audit import SYSTEM, Actor, audit_record
from inference.models import RegisteredModel
from inference.weights import weights_manifest

logger = logging.getLogger(__name__)

HASH_TASK = "inference.tasks.model_weights_hash"


def hashing_queue(model_id: int) -> None:
    """Send the hashing task once the current transaction commits."""

    def send() -> None:
        try:
            current_app.send_task(HASH_TASK, args=[model_id])
        except BrokerUnavailable:
            logger.warning(
                "hashing of model %s not queued: the broker is unreachable (the beat resends it)", model_id
            )

    transaction.on_commit(send)


def model_weights_hash(*, model_id: int, actor: Actor = SYSTEM) -> RegisteredModel | None:
    """Hash a registered model's weight files (the worker, for weights over MODEL_HASH_INLINE_BYTES). Idempotent:
    only a model whose manifest is pending is hashed, and a redelivered task finds it complete. Audits
    ``model.weights_hashed`` (the manifest, or the error)."""
    model = RegisteredModel.objects.filter(pk=model_id, manifest_status="pending").first()
    if model is None:
        return None
    try:
        manifest, status, error = weights_manifest(Path(model.weights_path).resolve()), "complete", ""
    except OSError as exc:
        manifest, status, error = {}, "failed", str(exc)
    with transaction.atomic():
        updated = RegisteredModel.objects.filter(pk=model_id, manifest_status="pending").update(
            weights_manifest=manifest, manifest_status=status, updated_at=timezone.now()
        )
        if updated:
            audit_record(
                action="model.weights_hashed",
                actor=actor,
                outcome="ok" if status == "complete" else "failed",
                target_type="registered_model",
                target_id=model_id,
                details={"served_name": model.served_name, "weights_manifest": manifest, "error": error},
            )
    return RegisteredModel.objects.get(pk=model_id)


def model_weights_requeue() -> int:
    """Send again the hashing of manifests still pending (a lost message, a dead worker). Beat."""
    ids = list(RegisteredModel.objects.filter(manifest_status="pending").values_list("pk", flat=True))
    with transaction.atomic():
        for model_id in ids:
            hashing_queue(model_id)
    return len(ids)
