"""Gunicorn settings shared by `manage.py serve` and docker-compose (``gunicorn -c config/gunicorn.py``)."""

from __future__ import annotations

import threading
from typing import Any

worker_class = "gthread"
threads = 4
timeout = 300
accesslog = "-"


def post_worker_init(worker: Any) -> None:
    """Load the embedding model in the background so the first search does not wait ~10 s for it."""
    from inference import embeddings

    threading.Thread(target=embeddings.get_model, name="embedding-warmup", daemon=True).start()
