"""Celery tasks of the inference layer: adapters around services."""

from __future__ import annotations

import logging

from celery import shared_task

from inference.gate import gate_recheck
from inference.llm import InferenceUnavailable

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
