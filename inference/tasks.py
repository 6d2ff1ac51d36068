"""Celery tasks of the inference layer: adapters around services."""

from __future__ import annotations

import logging

from celery import shared_task

from inference.gate import gate_recheck
from inference.llm import InferenceUnavailable
from inference.weights_hashing import model_weights_hash as _model_weights_hash
from inference.weights_hashing import model_weights_requeue

logger = logging.getLogger(__name__)


@shared_task(name="inference.tasks.model_gate_check", ignore_result=True)
def model_gate_check() -> bool | None:
    """Re-check what the model server serves against the registry (beat, every 10 minutes). Idempotent: it
    only reads, and audits a decision once per change. None when the server cannot be asked."""
    try:
        return gate_recheck().allowed
    except InferenceUnavailable as exc:
        logger.warning("model gate re-check: %s", exc)
        return None


@shared_task(name="inference.tasks.model_weights_hash", acks_late=True, ignore_result=True)
def model_weights_hash(model_id: int) -> str:
    """Hash a registered model's weights (over MODEL_HASH_INLINE_BYTES). Idempotent: only a pending manifest."""
    model = _model_weights_hash(model_id=model_id)
    return model.manifest_status if model else "not pending"


@shared_task(name="inference.tasks.requeue_model_weights", ignore_result=True)
def requeue_model_weights() -> int:
    """Send again the hashing of manifests still pending (beat)."""
    return model_weights_requeue()
