from __future__ import annotations

import io
from typing import Any

from rag.models import Collection, Document
from rag.services.documents import document_create
from rag.services.ingest import document_ingest
from tests.conftest import wait_for_status


def ingest_bytes(collection: Collection, user: Any, data: bytes, filename: str, **kwargs: Any) -> Document:
    """Create and ingest in this process (the Celery path is covered by tests/e2e)."""
    document, _ = document_create(
        collection=collection, uploaded_by=user, stream=io.BytesIO(data), filename=filename, **kwargs
    )
    result = document_ingest(document_id=document.pk, task_id="test")
    assert result is not None
    if result.status == Document.Status.PROCESSING:
        # A test that commits (transaction=True) also queued the Celery task, and a running test worker
        # claimed the document first (which one wins depends on the machine's load): let the worker finish.
        result = wait_for_status(document.pk, {Document.Status.READY, Document.Status.FAILED})
    return result
