"""The Celery application. Workers: ``celery -A config worker``."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("emanet")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _load_embedding_model(**_: Any) -> None:
    """Load the embedding model when a worker process starts, not inside the first task's time limit."""
    from django.conf import settings

    if settings.EMBEDDING_PRELOAD:
        from inference import embeddings

        embeddings.get_model()
