"""Encrypted originals end to end: upload over the API, a real Celery worker decrypts and ingests, search finds
the text, the bytes on disk never hold it, and deleting the document removes its key and its file."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from rag.models import Document
from tests.conftest import WorkerProcess, wait_for_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CANARY = b"Emergency generator manual. The fuel valve code is Zebra-5521-Quokka; test it every Monday."


def test_worker_ingests_an_encrypted_upload_and_delete_removes_key_and_file(
    celery_worker: WorkerProcess, alice: Any, collection_a: Any, client_for: Callable[[Any], APIClient]
) -> None:
    client = client_for(alice)
    response = client.post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile("generator.txt", CANARY), "collection": "A"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    document_id = int(response.json()["id"])
    document = wait_for_status(document_id, {"ready", "failed"})
    assert document.status == "ready", document.error

    path = Path(settings.MEDIA_ROOT) / document.file_path
    assert b"Zebra-5521-Quokka" not in path.read_bytes() and b"generator" not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    hits = client.post("/api/v1/search", {"query": "fuel valve code", "k": 3}, format="json").json()
    assert hits["results"][0]["document_id"] == document_id
    assert "Zebra-5521-Quokka" in hits["results"][0]["text"]

    assert client.delete(f"/api/v1/documents/{document_id}").status_code == 204
    assert not Document.objects.filter(pk=document_id).exists()  # the wrapped data key was on this row
    assert not path.exists()
