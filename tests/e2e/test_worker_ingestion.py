"""End to end through a real Celery worker process: upload over the API, the worker ingests, search finds it.

These tests commit (transaction=True) so the worker, a separate process, sees what the API wrote.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from psycopg import sql
from rest_framework.test import APIClient

from rag.models import Chunk, Document
from tests.conftest import WorkerProcess, wait_for_document, wait_for_status
from tests.files import make_docx, make_pdf

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TXT = (
    b"Fire safety instructions. In case of fire, leave the building through the nearest emergency exit and "
    b"gather at the assembly point in the north car park. Do not use the lifts."
)
PDF = make_pdf(
    [
        "Travel policy. Economy class is required for flights shorter than six hours.",
        "Hotel costs are reimbursed up to 150 euros per night in capital cities.",
    ],
    title="Travel policy",
)
DOCX = make_docx(
    [
        ("Heading 1", "Onboarding"),
        ("", "New employees receive their laptop and badge from the IT service desk on the first morning."),
    ]
)


def _upload(client: APIClient, name: str, data: bytes, collection: str = "A") -> int:
    response = client.post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile(name, data), "collection": collection},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return int(response.json()["id"])


def _search(client: APIClient, query: str) -> list[dict[str, Any]]:
    response = client.post("/api/v1/search", {"query": query, "k": 5}, format="json")
    assert response.status_code == 200
    return list(response.json()["results"])


def test_upload_ingest_search_delete_through_a_real_worker(
    celery_worker: WorkerProcess, alice: Any, collection_a: Any, client_for: Callable[[Any], APIClient]
) -> None:
    client = client_for(alice)
    ids = {
        "txt": _upload(client, "fire.txt", TXT),
        "pdf": _upload(client, "travel.pdf", PDF),
        "docx": _upload(client, "onboarding.docx", DOCX),
    }
    for document_id in ids.values():
        wait_for_status(document_id, {"ready", "failed"})
    for kind, document_id in ids.items():
        detail = client.get(f"/api/v1/documents/{document_id}").json()
        assert detail["status"] == "ready", (kind, detail["error"])
        assert detail["chunk_count"] >= 1

    assert _search(client, "where do we gather if there is a fire?")[0]["document_id"] == ids["txt"]
    hotel = _search(client, "how much can I spend on a hotel per night")[0]
    assert (hotel["document_id"], hotel["page"], hotel["title"]) == (ids["pdf"], 2, "Travel policy")
    assert _search(client, "who gives new staff their laptop")[0]["document_id"] == ids["docx"]

    stored = Path(settings.MEDIA_ROOT) / Document.objects.get(pk=ids["txt"]).file_path
    assert stored.exists()
    assert client.delete(f"/api/v1/documents/{ids['txt']}").status_code == 204
    assert ids["txt"] not in {
        hit["document_id"] for hit in _search(client, "where do we gather if there is a fire?")
    }
    assert not Chunk.objects.filter(document_id=ids["txt"]).exists()
    assert not stored.exists()


def test_bad_files_fail_with_reasons_and_leave_others_alone(
    celery_worker: WorkerProcess, alice: Any, collection_a: Any, client_for: Callable[[Any], APIClient]
) -> None:
    client = client_for(alice)
    good = _upload(client, "fire.txt", TXT)
    bad = {
        "corrupt": _upload(client, "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage"),
        "encrypted": _upload(client, "locked.pdf", make_pdf(["secret plans"], password="pw")),
        "empty": _upload(client, "empty.txt", b""),
        "unsupported": _upload(client, "photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    }
    reasons = {kind: wait_for_status(pk, {"failed", "ready"}) for kind, pk in bad.items()}
    assert {kind: d.status for kind, d in reasons.items()} == dict.fromkeys(bad, "failed")
    assert "damaged" in reasons["corrupt"].error
    assert "password-protected" in reasons["encrypted"].error
    assert reasons["empty"].error == "The file is empty."
    assert "Unsupported file type" in reasons["unsupported"].error
    assert wait_for_status(good, {"ready", "failed"}).status == "ready"
    assert client.get(f"/api/v1/documents/{bad['corrupt']}").json()["error"] == reasons["corrupt"].error


def _visibility_timeout_passes(task_id: str) -> None:
    """Let the broker's visibility timeout (35 minutes) pass for the unacknowledged message of ``task_id``.

    Redis has no acknowledgements of its own: kombu keeps each delivered, unacknowledged message in a hash,
    with its delivery time in a sorted set, and every worker's periodic sweep (every 2 s in tests) puts the
    messages delivered longer than the visibility timeout ago back on the queue. Back-dating this message's
    delivery lets that real sweep redeliver it now. The alternative, test limits short enough to wait out,
    had the redelivered ingestion race its time limit on a slow machine.
    """
    from config.celery import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as client:
            tags = [
                tag
                for tag, message in client.hgetall(channel.unacked_key).items()
                if json.loads(message)[0]["headers"]["id"] == task_id
            ]
            assert len(tags) == 1, f"{len(tags)} unacknowledged messages of task {task_id}"
            delivered = time.time() - channel.visibility_timeout - 1
            client.zadd(channel.unacked_index_key, {tags[0]: delivered}, xx=True)
            # The sweep's lock expires after 5 minutes, long before 35 have passed: the killed worker may
            # have died holding it.
            client.delete(channel.unacked_mutex_key)


def test_worker_killed_mid_task_is_redelivered_and_leaves_one_set_of_chunks(
    new_worker: Callable[..., WorkerProcess],
    alice: Any,
    collection_a: Any,
    client_for: Callable[[Any], APIClient],
    celery_worker: WorkerProcess,
) -> None:
    # The shared worker must not pick this task up: stop it for the duration of the test.
    celery_worker.stop()
    try:
        client = client_for(alice)
        # Big enough that embedding takes a few seconds on a CPU.
        text = "\n\n".join(
            f"Paragraph {i}. Machine {i} in hall {i % 7} is serviced by team {i % 11} every {i % 5 + 1} weeks."
            for i in range(900)
        )
        document_id = _upload(client, "machines.txt", text.encode())
        # Do not wait for the worker to answer pings: by then it may have finished the document.
        doomed = new_worker(wait=False)
        # Mid-way: the worker has claimed the document and counted its attempt; chunks are stored last.
        claimed = wait_for_document(document_id, lambda d: d.attempts >= 1, "claimed by the first worker")
        doomed.kill()
        document = Document.objects.get(pk=document_id)
        assert (document.status, document.attempts) == ("processing", 1)
        assert not Chunk.objects.filter(document_id=document_id).exists()

        # acks_late: the message was never acknowledged; once its visibility timeout has passed, a worker's
        # periodic sweep puts it back on the queue.
        _visibility_timeout_passes(claimed.task_id)
        new_worker()
        document = wait_for_status(document_id, {"ready", "failed"})
        assert document.status == "ready", document.error
        assert document.attempts == 2
        ordinals = list(Chunk.objects.filter(document_id=document_id).values_list("ordinal", flat=True))
        assert ordinals == list(range(document.chunk_count))
    finally:
        celery_worker.start()


def test_database_connection_lost_mid_task_is_retried_and_completes(
    celery_worker: WorkerProcess, alice: Any, collection_a: Any, client_for: Callable[[Any], APIClient]
) -> None:
    from django.db import connection

    client = client_for(alice)
    text = "\n\n".join(
        f"Clause {i}. Supplier {i % 13} delivers part {i} to depot {i % 9} within {i % 6 + 2} working days."
        for i in range(1600)
    )
    document_id = _upload(client, "contract.txt", text.encode())
    # Claimed and counted: the worker now holds its database connection until it stores the chunks.
    wait_for_document(document_id, lambda d: d.attempts >= 1, "claimed by the worker")
    with connection.cursor() as cursor:
        # A real transient outage: the server drops the worker's connection (failover, restart, proxy). Only a
        # superuser may end every connection (the tests' own log in as one and work as the application role).
        cursor.execute("SET ROLE NONE")
        try:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] >= 1
        finally:
            cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(settings.TEST_APP_ROLE)).as_string())
    document = wait_for_status(document_id, {"ready", "failed"})
    assert document.status == "ready", document.error
    assert document.attempts == 2  # the autoretry re-claimed its own document
    assert Chunk.objects.filter(document_id=document_id).count() == document.chunk_count
