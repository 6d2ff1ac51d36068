"""The canary tests. First: a document full of planted personal data goes through the real system — API
upload, Redis, a real Celery worker, the real embedding model, PostgreSQL, the real vLLM server — and no
planted value comes out anywhere under the default policy: not in stored chunks, not in what was embedded,
not in the request body the model server received, not in broker messages, not in logs, not in API
responses. Second: canaries in an uploaded file name and in a data-subject request's note are never stored
in clear (document rows, requests, exports, the audit trail, logs), and an erasure takes them away.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from governance.models import AuditEvent, SubjectMention, SubjectRequest
from governance.pii.redaction import subject_key
from governance.roles import COMPLIANCE_GROUP
from rag.models import Answer, Chunk, Citation, Conversation, Document
from tests.conftest import WAIT_S, WorkerProcess, wait_for, wait_for_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CANARIES = {
    "TCKN": "38562104706",
    "VKN": "7810533348",
    "IBAN": "TR62 0001 0012 3456 7890 1234 56",
    "CREDIT_CARD": "5406 7125 3698 0013",
    "EMAIL": "canan.bozkurtoglu@ornek-sirket.com.tr",
    "PHONE": "0532 481 27 93",
    "PERSON": "Canan Bozkurtoğlu",
    "DATE_OF_BIRTH": "14.07.1983",
    "IP_ADDRESS": "10.41.7.213",
    "TR_PLATE": "34 KZT 482",
    "US_SSN": "512-38-4417",
}
# Spellings in which a value could leak besides the planted one (no spaces, digits only).
VARIANTS = {v.replace(" ", "") for v in CANARIES.values()} | {re.sub(r"\D", "", CANARIES["PHONE"])[1:]}
ALL = set(CANARIES.values()) | VARIANTS | {"Bozkurtoğlu"}

DOCUMENT = f"""Müşteri şikâyeti — Sigorta dosyası MK-2291

Sayın {CANARIES["PERSON"]}, T.C. kimlik numarası {CANARIES["TCKN"]}, doğum tarihi: {CANARIES["DATE_OF_BIRTH"]},
poliçe yenilemesi için başvurdu. Vergi kimlik no (VKN): {CANARIES["VKN"]}.
İade, IBAN {CANARIES["IBAN"]} hesabına yapılacak. Kart: {CANARIES["CREDIT_CARD"]}.
İletişim: cep {CANARIES["PHONE"]}, e-posta {CANARIES["EMAIL"]}.
Araç plakası {CANARIES["TR_PLATE"]}; portal girişi {CANARIES["IP_ADDRESS"]} adresinden yapıldı.
US claimant SSN {CANARIES["US_SSN"]}.

The claim concerns a hail-damaged roof; the settlement is 48,500 TRY, paid within 10 business days.
"""
QUESTION = (
    f"What is the settlement for {CANARIES['PERSON']} (TCKN {CANARIES['TCKN']}, {CANARIES['EMAIL']})? "
    "How many business days until it is paid?"
)


def leaked(text: str) -> set[str]:
    return {value for value in ALL if value in text}


class RecordingProxy:
    """A pass-through HTTP proxy in front of the real vLLM server that records every request body."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.bodies: list[tuple[str, str]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.bodies.append((self.path, body.decode("utf-8", "replace")))
                upstream = httpx.request(
                    method,
                    proxy.upstream + self.path,
                    content=body,
                    headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                    timeout=WAIT_S,
                )
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class BrokerMonitor:
    """Redis MONITOR: every command the broker receives, Celery's messages included (bodies decoded)."""

    def __init__(self) -> None:
        url = settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://")
        self.client = redis.Redis.from_url(url)
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(WAIT_S)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            for command in monitor.listen():
                self.commands.append(str(command.get("command", "")))
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()
        self.client.ping()  # one more command wakes the listener up
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), "the monitor has not seen every command yet"

    def decoded(self) -> str:
        """Raw commands plus every base64 message body in them, decoded."""
        texts = list(self.commands)
        for command in self.commands:
            for body in re.findall(r'"body": ?"([A-Za-z0-9+/=]+)"', command.replace('\\"', '"')):
                texts.append(base64.b64decode(body).decode("utf-8", "replace"))
        return "\n".join(texts)


@pytest.fixture
def proxy(llm: str, settings: Any) -> Iterator[RecordingProxy]:
    recording = RecordingProxy(llm)
    settings.LLM_BASE_URL = recording.url
    yield recording
    recording.close()


def test_no_planted_value_leaves_the_system_under_the_default_policy(
    celery_worker: WorkerProcess,
    worker_log: Path,
    proxy: RecordingProxy,
    alice: Any,
    collection_a: Any,
    client_for: Callable[[Any], APIClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert set(CANARIES.values()) <= leaked(DOCUMENT)
    client = client_for(alice)
    monitor = BrokerMonitor()
    log_start = worker_log.stat().st_size if worker_log.exists() else 0
    caplog.set_level(logging.DEBUG)
    try:
        upload = client.post(
            "/api/v1/documents",
            {"file": SimpleUploadedFile("sikayet.txt", DOCUMENT.encode()), "collection": "A"},
            format="multipart",
        )
        assert upload.status_code == 202, upload.content
        document = wait_for_status(upload.json()["id"], {"ready", "failed"})
        assert document.status == "ready", document.error
        answer = client.post("/api/v1/ask", {"question": QUESTION}, format="json")
    finally:
        monitor.stop()
    assert answer.status_code == 200, answer.content
    body = answer.json()

    # Stored: every chunk, the document, the question, the answer, the citations.
    chunks = list(Chunk.objects.filter(document=document))
    stored = "\n".join(
        [c.text + c.section for c in chunks]
        + [Document.objects.get(pk=document.pk).title]
        + [a.question + a.text for a in Answer.objects.all()]
        + [c.title for c in Conversation.objects.all()]
        + [c.title + c.snippet + c.section for c in Citation.objects.all()]
    )
    assert leaked(stored) == set()
    for placeholder in ("<TCKN_1>", "<EMAIL_1>", "<IBAN_1>", "<PERSON_1>", "<PHONE_1>", "<DATE_OF_BIRTH_1>"):
        assert placeholder in stored  # redacted, not simply lost

    # Embedded: each stored vector is the embedding of the redacted text, not of the raw one.
    from inference import embeddings
    from rag.chunking import TextChunk
    from rag.services.ingest import embedding_input

    chunk = chunks[0]
    redacted_input = embedding_input(
        title=document.title, chunk=TextChunk(chunk.text, chunk.page, chunk.section, chunk.token_count)
    )
    raw_input = redacted_input
    for entity_type, value in CANARIES.items():
        raw_input = re.sub(rf"<{entity_type}_1>", value, raw_input)
    assert leaked(redacted_input) == set() and leaked(raw_input)
    redacted_vector, raw_vector = embeddings.embed([redacted_input, raw_input])

    def cosine(a: Any, b: Any) -> float:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    assert cosine(chunk.embedding, redacted_vector) > 0.999
    assert cosine(chunk.embedding, raw_vector) < cosine(chunk.embedding, redacted_vector) - 0.01

    # The model server saw redacted text only; and it did see the document (placeholders) and the question.
    chat_bodies = [b for path, b in proxy.bodies if path.endswith("/chat/completions")]
    assert chat_bodies, proxy.bodies
    sent = "\n".join(b for _, b in proxy.bodies)
    assert leaked(sent) == set()
    assert re.search(r"<[A-Z_]+_1>", sent) and "48,500" in sent and "business days" in sent, sent

    # The broker carried ids only.
    messages = monitor.decoded()
    assert "rag.tasks.ingest_document" in messages  # the capture did see the ingest task
    assert leaked(messages) == set()

    # Logs: the worker's and this process's (web side).
    # The worker logs "ready" after it has committed the document: wait for the line, do not race it.
    def worker_lines() -> str:
        return worker_log.read_bytes()[log_start:].decode("utf-8", "replace")

    wait_for(
        lambda: f"document {document.pk} ready" in worker_lines(),
        what=f"the worker to log that document {document.pk} is ready",
        state=lambda: f"see {worker_log}",
    )
    assert leaked(worker_lines()) == set()
    assert leaked(caplog.text) == set()

    # API responses: the answer, the document, search, the conversation.
    responses = [
        json.dumps(body, ensure_ascii=False),
        client.get(f"/api/v1/documents/{document.pk}").content.decode(),
        client.post("/api/v1/search", {"query": QUESTION, "k": 5}, format="json").content.decode(),
        client.get(f"/api/v1/conversations/{body['conversation_id']}").content.decode(),
    ]
    assert leaked("\n".join(responses)) == set()
    assert body["citations"] and not leaked(json.dumps(body["citations"], ensure_ascii=False))

    # The subject index can still find the chunk that mentioned the person's TCKN and e-mail.
    for entity_type in ("TCKN", "EMAIL", "PERSON"):
        key = subject_key(entity_type, CANARIES[entity_type])
        assert SubjectMention.objects.filter(subject=key, document=document).exists(), entity_type
    assert not SubjectMention.objects.filter(subject__in=list(ALL)).exists()


# --- canaries in a file name and in a data-subject request note --------------------------------------------

NAME_CANARIES = {"EMAIL": "ayten.sezer@posta-ornek.com.tr", "PHONE": "05229876076"}
NOTE_CANARIES = {"PHONE": "+90 517 118 36 78", "EMAIL": "a.sezer.yedek@posta-ornek.com.tr"}
CANARY_FILENAME = f"cv_{NAME_CANARIES['EMAIL']}_{NAME_CANARIES['PHONE']}.txt"
CANARY_NOTE = (
    f"Dilekçe 2024/88; başvuran ayrıca {NOTE_CANARIES['PHONE']} numarasını ve {NOTE_CANARIES['EMAIL']} "
    "adresini verdi."
)
NAME_NOTE_ALL = (
    set(NAME_CANARIES.values())
    | set(NOTE_CANARIES.values())
    | {CANARY_FILENAME, "ayten.sezer", "a.sezer.yedek", "5229876076", "517 118 36 78", "5171183678"}
)
CV_TEXT = (
    "Özgeçmiş\n\nYazılım geliştirme alanında on yıllık deneyim; dağıtık sistemler ve ekip liderliği. "
    "Referanslar istek üzerine verilir.\n"
)


def name_note_leaked(text: str) -> set[str]:
    return {value for value in NAME_NOTE_ALL if value in text}


def _request_done(client: APIClient, request_id: int) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/subject-requests/{request_id}").json()
        return body if body["status"] in {"completed", "failed", "rejected"} else None

    return wait_for(
        finished,
        what=f"subject request {request_id} to finish",
        state=lambda: client.get(f"/api/v1/subject-requests/{request_id}").json()["status"],
    )


def _stored_in_database() -> str:
    """Every row where a file name or a note could be kept: documents, requests (with their exports and
    receipts), the audit trail."""
    rows = [
        json.dumps(list(Document.objects.values("title", "original_filename", "error")), ensure_ascii=False),
        json.dumps(
            list(SubjectRequest.objects.values("note", "error", "result")), ensure_ascii=False, default=str
        ),
        json.dumps(list(AuditEvent.objects.values("details")), ensure_ascii=False, default=str),
    ]
    return "\n".join(rows)


def test_canaries_in_a_file_name_and_a_request_note_are_never_stored_in_clear_and_erasure_removes_them(
    celery_worker: WorkerProcess,
    worker_log: Path,
    alice: Any,
    carol: Any,
    django_user_model: Any,
    collection_a: Any,
    client_for: Callable[[Any], APIClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    group = Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0]
    dave = django_user_model.objects.create_user(username="dave", password="pw-dave-123")
    carol.groups.add(group)
    dave.groups.add(group)
    caplog.set_level(logging.DEBUG)
    log_start = worker_log.stat().st_size if worker_log.exists() else 0
    uploader, officer = client_for(alice), client_for(carol)

    upload = uploader.post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile(CANARY_FILENAME, CV_TEXT.encode()), "collection": "A"},
        format="multipart",
    )
    assert upload.status_code == 202, upload.content
    document = wait_for_status(upload.json()["id"], {"ready", "failed"})
    assert document.status == "ready", document.error
    listed = uploader.get("/api/v1/documents").content.decode()
    assert name_note_leaked(listed) == set()
    # Indexed by what its name names, though no passage mentions the person.
    for entity_type, value in NAME_CANARIES.items():
        key = subject_key(entity_type, value)
        assert SubjectMention.objects.filter(subject=key, document=document, chunk=None).exists(), entity_type

    access = officer.post(
        "/api/v1/subject-requests",
        {"kind": "access", "identifiers": {"email": NAME_CANARIES["EMAIL"]}, "note": CANARY_NOTE},
        format="json",
    )
    assert access.status_code == 201, access.content
    export = _request_done(officer, access.json()["id"])
    assert export["status"] == "completed", export["error"]
    assert [d["document_id"] for d in export["export"]["documents"]] == [document.pk]
    assert "<PHONE_" in export["note"] and "<EMAIL_" in export["note"]

    assert name_note_leaked(_stored_in_database()) == set()

    erasure = officer.post(
        "/api/v1/subject-requests",
        {
            "kind": "erasure",
            "identifiers": {
                "email": [NAME_CANARIES["EMAIL"], NOTE_CANARIES["EMAIL"]],
                "phone": [NAME_CANARIES["PHONE"], NOTE_CANARIES["PHONE"]],
            },
        },
        format="json",
    )
    assert erasure.status_code == 201, erasure.content
    if erasure.json()["status"] == "awaiting_approval":
        approved = client_for(dave).post(
            f"/api/v1/subject-requests/{erasure.json()['id']}/approve", {}, format="json"
        )
        assert approved.status_code == 200, approved.content
    receipt = _request_done(officer, erasure.json()["id"])
    assert receipt["status"] == "completed", receipt["error"]
    assert receipt["receipt"]["counts"]["documents_destroyed"] == 1
    assert receipt["receipt"]["counts"]["request_notes_redacted"] == 1

    # Gone: the document (and its name), the index rows, the note's pseudonyms; nothing finds the person.
    assert not Document.objects.filter(pk=document.pk).exists()
    keys = [subject_key(t, v) for t, v in (*NAME_CANARIES.items(), *NOTE_CANARIES.items())]
    assert not SubjectMention.objects.filter(subject__in=keys).exists()
    note = SubjectRequest.objects.get(pk=access.json()["id"]).note
    assert note.startswith("Dilekçe 2024/88") and "<PHONE_" not in note and "<EMAIL_" not in note
    assert name_note_leaked(_stored_in_database()) == set()

    def worker_lines() -> str:
        return worker_log.read_bytes()[log_start:].decode("utf-8", "replace")

    wait_for(
        lambda: f"document {document.pk} ready" in worker_lines(),
        what=f"the worker to log that document {document.pk} is ready",
        state=lambda: f"see {worker_log}",
    )
    assert name_note_leaked(worker_lines()) == set()
    assert name_note_leaked(caplog.text) == set()
