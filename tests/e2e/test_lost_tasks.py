"""Uploads are never lost: not to a broker outage, not to a worker that died after its retries ran out."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from rag import storage
from rag.models import Collection, Document
from rag.services.documents import documents_requeue_stale
from tests.conftest import ROOT, WAIT_S, WorkerProcess, wait_for_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _orphan(collection: Collection, user: Any, text: str, **fields: Any) -> Document:
    """A stored document whose task message does not exist (as after a broker outage)."""
    stored = storage.store(io.BytesIO(text.encode()), suffix=".txt")
    return Document.objects.create(
        collection=collection,
        title="orphan",
        original_filename="orphan.txt",
        mime_type="text/plain",
        sha256=stored.sha256,
        size_bytes=stored.size,
        file_path=stored.relative_path,
        file_key=stored.wrapped_key,
        file_key_id=stored.key_id,
        uploaded_by=user,
        **fields,
    )


def test_sweep_resends_lost_and_stuck_documents(
    celery_worker: WorkerProcess, alice: Any, collection_a: Collection
) -> None:
    long_ago = timezone.now() - timedelta(hours=2)
    lost = _orphan(collection_a, alice, "The generator is tested on the first Monday of every month.")
    Document.objects.filter(pk=lost.pk).update(updated_at=long_ago)
    stuck = _orphan(
        collection_a,
        alice,
        "Fire extinguishers are checked every six months.",
        status=Document.Status.PROCESSING,
        processing_started_at=long_ago,
        task_id="dead-worker",
    )
    fresh = _orphan(collection_a, alice, "Visitors sign in at reception.")

    assert documents_requeue_stale(queued_for_s=600) == 2
    assert wait_for_status(lost.pk, {"ready", "failed"}).status == "ready"
    assert wait_for_status(stuck.pk, {"ready", "failed"}).status == "ready"
    # Too young to be presumed lost: not re-sent. It may have been taken along by a re-sent document's task
    # (small documents are embedded in batches, rag.services.ingest), never by a task of its own.
    fresh_now = Document.objects.get(pk=fresh.pk)
    takers = set(Document.objects.filter(pk__in=[lost.pk, stuck.pk]).values_list("task_id", flat=True))
    assert fresh_now.status == "queued" or fresh_now.task_id in takers


def test_upload_during_a_broker_outage_is_kept_and_queued_later(
    worker_env: dict[str, str], alice: Any, collection_a: Collection
) -> None:
    script = (
        "import io, django; django.setup();"
        "from django.contrib.auth.models import User; from rag.models import Collection;"
        "from rag.services.documents import document_create;"
        "doc, created = document_create(collection=Collection.objects.get(name='A'),"
        " uploaded_by=User.objects.get(username='alice'), stream=io.BytesIO(b'Broker outage text.'),"
        " filename='outage.txt'); print(doc.pk, doc.status, created)"
    )
    env = {**worker_env, "REDIS_URL": "redis://127.0.0.1:9/0"}  # nothing listens on the discard port
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document_id, status, created = result.stdout.split()[-3:]
    assert (status, created) == ("queued", "True")
    assert "stays queued until the stale sweep" in result.stderr
    document = Document.objects.get(pk=int(document_id))
    assert storage.read_document(document) == b"Broker outage text."
