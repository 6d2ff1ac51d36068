"""Ingestion and search with a GPU embedding server (EMBEDDING_BASE_URL): vectors carry the served model's key,
search reads them, a change to the server re-embeds in the background, and a server that is down, refuses or
answers nonsense fails the document with a reason the uploader can read."""

from __future__ import annotations

import io
import socket
from typing import Any

import numpy as np
import pytest
from django.test import override_settings

from inference import embeddings
from rag.chunking import TextChunk
from rag.models import Chunk, Collection, Document
from rag.selectors import chunk_search
from rag.services.documents import document_create
from rag.services.ingest import MAX_ATTEMPTS, embedding_input
from rag.services.vectors import collection_reembed, collections_to_reembed
from rag.tasks import ingest_document
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

LEAVE = b"Annual leave: every employee has 24 days of paid leave per year, booked through the HR portal."
BADGE = b"Server room access needs a badge issued by facilities; visitors are escorted at all times."


@pytest.mark.slow
def test_served_vectors_are_stored_under_the_served_key_and_found_by_search(
    served_embeddings: str, alice: Any, collection_a: Collection
) -> None:
    document = ingest_bytes(collection_a, alice, LEAVE, "leave.txt")
    assert document.status == Document.Status.READY, document.error
    [chunk] = Chunk.objects.filter(document=document)
    assert chunk.embedding_model == served_embeddings
    collection_a.refresh_from_db()
    assert collection_a.embedding_model == served_embeddings
    # The very vectors the in-process MiniLM makes of the same input.
    text = embedding_input(
        title=document.title,
        chunk=TextChunk(
            text=chunk.text, page=chunk.page, section=chunk.section, token_count=chunk.token_count
        ),
    )
    local = embeddings.embed([text], key=embeddings.MINILM)[0]
    assert float(np.asarray(chunk.embedding, dtype=np.float32) @ local) > 0.999

    hits = chunk_search(user=alice, query="how many days of paid leave do employees get", k=3)
    assert hits[0].document_id == document.pk
    assert hits[0].embedding_model == served_embeddings and (hits[0].similarity or 0) > 0.5


@pytest.mark.slow
def test_moving_to_a_server_reembeds_while_the_old_vectors_keep_answering(
    embedding_server: str, alice: Any, collection_a: Collection
) -> None:
    leave = ingest_bytes(collection_a, alice, LEAVE, "leave.txt")  # in-process: the bundled default model
    assert set(Chunk.objects.filter(document=leave).values_list("embedding_model", flat=True)) == {
        embeddings.E5_SMALL
    }
    with override_settings(EMBEDDING_BASE_URL=embedding_server, EMBEDDING_MODEL="all-MiniLM-L6-v2-remote"):
        served = embeddings.active_key()
        badge = ingest_bytes(collection_a, alice, BADGE, "badge.txt")
        assert collections_to_reembed() == [collection_a.pk]
        hits = chunk_search(user=alice, query="how many days of paid leave do employees get", k=3)
        assert (hits[0].document_id, hits[0].embedding_model) == (leave.pk, embeddings.E5_SMALL)
        hits = chunk_search(user=alice, query="who issues the badge for the server room", k=3)
        assert (hits[0].document_id, hits[0].embedding_model) == (badge.pk, served)

        assert collection_reembed(collection_id=collection_a.pk)
        assert set(
            Chunk.objects.filter(collection=collection_a).values_list("embedding_model", flat=True)
        ) == {served}
        hits = chunk_search(user=alice, query="how many days of paid leave do employees get", k=3)
        assert (hits[0].document_id, hits[0].embedding_model) == (leave.pk, served)


def test_a_server_that_stays_down_fails_the_document_after_the_task_retries(
    alice: Any, collection_a: Collection, settings: Any
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMBEDDING_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    settings.EMBEDDING_MAX_RETRIES = 0
    document, _ = document_create(
        collection=collection_a, uploaded_by=alice, stream=io.BytesIO(LEAVE), filename="leave.txt"
    )
    # The real task, run in this process: each retry runs at once instead of after its backoff.
    assert ingest_document.apply(args=(document.pk,)).get() == "failed"
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert document.attempts == MAX_ATTEMPTS  # the delivery and Celery's 5 retries, like a database outage
    assert document.error == (
        f"The embedding server did not answer after {MAX_ATTEMPTS} attempts: cannot reach the embedding server "
        f"at http://127.0.0.1:{port}/v1 (ConnectError). Upload the file again once it is back (GET /api/v1/health "
        "shows whether it answers)."
    )
    assert not Chunk.objects.filter(document=document).exists()


def test_a_refused_endpoint_fails_the_document_at_once(
    alice: Any, collection_a: Collection, settings: Any
) -> None:
    settings.EMBEDDING_BASE_URL = "http://8.8.8.8/v1"  # outside ALLOWED_MODEL_NETWORKS
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    settings.EMBEDDING_MAX_TOKENS = 512  # chunking needs no answer from the server
    document = ingest_bytes(collection_a, alice, LEAVE, "leave.txt")
    assert document.status == Document.Status.FAILED and document.attempts == 1
    # The reason is redacted like any stored text: the PII recognizers take a public IP address for personal data.
    assert document.error.startswith(
        "The embedding server could not embed this document: refused to connect to the embedding server at http://"
    )
    assert document.error.endswith("fix the URL or, deliberately, the allow-list.")
    assert "outside ALLOWED_MODEL_NETWORKS" in document.error


def test_a_server_answering_nonsense_fails_the_document_with_the_reason(
    alice: Any, collection_a: Collection, settings: Any
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class NoVectors(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = b'{"object": "list", "data": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoVectors)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.EMBEDDING_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
        settings.EMBEDDING_MODEL = "multilingual-e5-large"
        settings.EMBEDDING_MAX_TOKENS = 512
        document = ingest_bytes(collection_a, alice, LEAVE, "leave.txt")
    finally:
        server.shutdown()
        server.server_close()
    assert document.status == Document.Status.FAILED
    assert document.error == (
        f"The embedding server could not embed this document: the embedding server at {settings.EMBEDDING_BASE_URL} "
        "returned 0 vectors for 1 inputs."
    )


def test_a_question_while_the_server_is_down_gets_503_with_the_reason(
    alice: Any, collection_a: Collection, client_for: Any, settings: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMBEDDING_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    settings.EMBEDDING_MAX_RETRIES = 0
    response = client_for(alice).post("/api/v1/search", {"query": "paid leave", "k": 3}, format="json")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The embedding server could not embed the query: cannot reach the embedding server at "
        f"http://127.0.0.1:{port}/v1 (ConnectError)"
    }
