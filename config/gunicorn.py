"""Gunicorn settings shared by `manage.py serve` and docker-compose (``gunicorn -c config/gunicorn.py``)."""

from __future__ import annotations

import threading
from typing import Any

worker_class = "gthread"
threads = 4
timeout = 300
accesslog = "-"


def post_worker_init(worker: Any) -> None:
    """Load the embedding model and the PII analyzer in the background so the first question does not wait
    ~10 s for them; put the PII log filter on gunicorn's own handlers (access and error log); cap the
    embedding's threads (EMBEDDING_WEB_THREADS: one question's embedding is one short text)."""
    import logging

    # Here, not at the top: gunicorn reads this file before Django is set up.
    from django.conf import settings

    from governance.pii import engine
    from governance.pii.logfilter import install
    from inference import embeddings

    for name in ("gunicorn.access", "gunicorn.error"):
        install(logging.getLogger(name))
    embeddings.threads_limit(settings.EMBEDDING_WEB_THREADS)
    threading.Thread(target=embeddings.preload, name="embedding-warmup", daemon=True).start()
    threading.Thread(target=engine.engine, name="pii-warmup", daemon=True).start()
