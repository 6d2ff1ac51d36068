"""The Celery application. Workers: ``celery -A config worker``."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("emanet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _load_embedding_model(**_: Any) -> None:
    """Load the embedding model when a worker process starts, not inside the first task's time limit.
    The imports are here because config/__init__.py imports this module before Django's settings exist."""
    from django.conf import settings

    if settings.EMBEDDING_PRELOAD:
        from inference import embeddings

        embeddings.preload()
    # The PII analyzer (presidio) too: ~3 s to import and build.
    from governance.pii import engine

    engine.engine()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger: Any, **_: Any) -> None:
    """Celery replaces Django's logging handlers in the worker; its own get the PII filter here."""
    from governance.pii.logfilter import install

    install(logger)
