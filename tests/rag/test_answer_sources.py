"""The streamed answer's `sources` event (issue 15, item 7): sent before the first token, as soon as the model
server has accepted the request; numbered and titled exactly as the citations that follow; a title naming a
special category hidden from a reader without the ``special`` grant, as in citations; no passage text. And
Emanet's own time before the model (``prepare_ms``), stored on the answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rest_framework.test import APIClient

from governance.models import CollectionGrant
from inference.local_server import MODEL_NAME
from rag import selectors
from rag.models import Answer, Chunk, Collection, Document
from rag.services import answers
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

Clients = Callable[[Any], APIClient]

# A title that must never reach a reader without the special grant. The file name names a special category
# (a psychiatric report), so the document's title is special; its passages do not, so a reader may retrieve
# them: the title is what must stay hidden.
CANARY_TITLE = "Kestrel handbook TITLECANARY7731"
FACT_DOC = (
    b"Kestrel project handbook.\n\n"
    b"The launch code of the Kestrel project is BLUEFIN-4471. Only the project lead may use it.\n"
)
MENU_DOC = b"Kestrel cafeteria menu. On Mondays the Kestrel cafeteria serves lentil soup and rice."
SHARED = ("n", "available", "document_id", "title", "chunk_id", "page", "section")


def sse_events(response: Any) -> list[tuple[str, dict[str, Any]]]:
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture
def special_titled(alice: Any, bob: Any, collection_a: Collection) -> Document:
    """Alice's document whose file name names a special category; bob reads the collection (no special)."""
    document = ingest_bytes(collection_a, alice, FACT_DOC, "psikiyatri raporu.txt", title=CANARY_TITLE)
    assert document.special_title and document.title == CANARY_TITLE
    assert Chunk.objects.get(document=document).special_categories == []  # retrievable without the grant
    ingest_bytes(collection_a, alice, MENU_DOC, "menu.txt", title="Cafeteria menu")
    CollectionGrant.objects.create(collection=collection_a, user=bob, permission="read")
    return document


class _NoTokenize(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint without /tokenize: the prompt is fitted by estimate, no model needed."""

    def do_POST(self) -> None:  # noqa: N802
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def no_model(settings: Any) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoTokenize)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.LLM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield
    server.shutdown()


# --- the governed view, without a model ----------------------------------------------------------------------


def test_sources_hide_a_special_title_from_a_reader_without_the_special_grant(
    no_model: None, special_titled: Document, bob: Any, collection_a: Collection
) -> None:
    prepared = answers.answer_prepare(user=bob, question="What is the Kestrel launch code?")
    sent = answers.sources_event(prepared)
    assert sent.event == "sources"
    shown = {source["document_id"]: source for source in sent.data["sources"]}
    assert shown[special_titled.pk]["title"] == selectors.HIDDEN_TITLE
    assert "TITLECANARY7731" not in json.dumps(sent.data)
    # Nor does the model see it: it writes for bob.
    assert "TITLECANARY7731" not in json.dumps(prepared.messages)
    # No passage text in the event: only what a citation shows before its snippet.
    assert "BLUEFIN" not in json.dumps(sent.data)
    assert all(set(source) == set(SHARED) for source in sent.data["sources"])

    CollectionGrant.objects.create(collection=collection_a, user=bob, permission="special")
    granted = answers.sources_event(
        answers.answer_prepare(user=bob, question="What is the Kestrel launch code?")
    )
    titles = {source["document_id"]: source["title"] for source in granted.data["sources"]}
    assert titles[special_titled.pk] == CANARY_TITLE


def test_sources_fail_closed_for_a_document_gone_since_the_search(
    no_model: None, special_titled: Document, alice: Any
) -> None:
    titles = selectors.document_titles_shown(user=alice, document_ids=[special_titled.pk, 987654])
    assert titles == set()  # alice owns it but holds no special grant; 987654 does not exist
    menu = Document.objects.get(title="Cafeteria menu")
    assert selectors.document_titles_shown(user=alice, document_ids=[menu.pk]) == {menu.pk}


class _AcceptsThenBreaks(BaseHTTPRequestHandler):
    """Accepts a chat completion (200, headers sent) and dies before the first token: a model server lost
    while reading the prompt. No /tokenize (the prompt is fitted by estimate); /models serves the name."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"data": [{"id": MODEL_NAME, "max_model_len": 2048}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        if not self.path.endswith("/chat/completions"):
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", "1000")  # promised, never sent: the stream breaks
        self.end_headers()
        self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_model_lost_after_accepting_gives_sources_then_an_error_and_a_failed_answer(
    settings: Any, special_titled: Document, bob: Any, client_for: Clients
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AcceptsThenBreaks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.LLM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings.LLM_MODEL = MODEL_NAME
    settings.LLM_MAX_RETRIES = 0
    settings.MODEL_GATE = "warn"  # this server is not a registered model; the gate is tested elsewhere
    try:
        response = client_for(bob).post(
            "/api/v1/ask", {"question": "What is the Kestrel launch code?", "stream": True}, format="json"
        )
        assert response.status_code == 200
        events = sse_events(response)
    finally:
        server.shutdown()
    assert [name for name, _ in events] == ["sources", "error", "citations", "done"]
    assert events[1][1]["detail"].startswith("The language model is not reachable")
    assert "TITLECANARY7731" not in json.dumps(events)
    done = events[-1][1]
    answer = Answer.objects.get(pk=done["answer_id"])
    assert answer.status == Answer.Status.FAILED and answer.text == ""
    assert done["prepare_ms"] == answer.prepare_ms is not None
    assert 0 <= answer.prepare_ms <= answer.latency_ms


# --- through the real model ---------------------------------------------------------------------------------


def _ask_streamed(client: APIClient) -> list[tuple[str, dict[str, Any]]]:
    response = client.post(
        "/api/v1/ask", {"question": "What is the Kestrel launch code?", "stream": True}, format="json"
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    return sse_events(response)


def _shared(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: item[key] for key in SHARED} for item in items]


@pytest.mark.slow
def test_sources_come_before_the_first_token_numbered_and_titled_as_the_citations(
    llm: str, special_titled: Document, alice: Any, client_for: Clients
) -> None:
    events = _ask_streamed(client_for(alice))
    names = [name for name, _ in events]
    assert names[0] == "sources" and names.count("sources") == 1
    assert names[-2:] == ["citations", "done"] and set(names[1:-2]) == {"token"} and len(names) > 3
    sources = events[0][1]["sources"]
    citations = events[-2][1]["citations"]
    assert [s["n"] for s in sources] == list(range(1, len(sources) + 1)) and sources
    assert _shared(sources) == _shared(citations)
    assert "Cafeteria menu" in {s["title"] for s in sources}
    done = events[-1][1]
    answer = Answer.objects.get(pk=done["answer_id"])
    assert done["prepare_ms"] == answer.prepare_ms is not None
    assert 0 <= answer.prepare_ms <= answer.latency_ms


@pytest.mark.slow
def test_a_special_title_is_hidden_in_sources_and_citations_of_a_reader_without_the_grant(
    llm: str, special_titled: Document, bob: Any, client_for: Clients
) -> None:
    events = _ask_streamed(client_for(bob))
    sources = events[0][1]["sources"]
    citations = events[-2][1]["citations"]
    assert events[0][0] == "sources" and events[-2][0] == "citations"
    hidden = [s for s in sources if s["document_id"] == special_titled.pk]
    assert hidden and hidden[0]["title"] == selectors.HIDDEN_TITLE
    assert _shared(sources) == _shared(citations)
    # Anywhere in the stream: the model never saw the title either.
    assert "TITLECANARY7731" not in json.dumps(events)


def test_search_hides_a_special_title_too(
    special_titled: Document, bob: Any, alice: Any, client_for: Clients
) -> None:
    # /api/v1/search returns passages bob may read; the document's title names nothing, its file name does:
    # hidden all the same, by the rule document lists, citations and the sources event follow.
    results = client_for(bob).post("/api/v1/search", {"query": "Kestrel launch code"}, format="json").json()
    mine = [r for r in results["results"] if r["document_id"] == special_titled.pk]
    assert mine and all(r["title"] == selectors.HIDDEN_TITLE for r in mine)
    assert "TITLECANARY7731" not in json.dumps(results)
    CollectionGrant.objects.create(collection=special_titled.collection, user=bob, permission="special")
    granted = client_for(bob).post("/api/v1/search", {"query": "Kestrel launch code"}, format="json").json()
    assert any(r["title"] == CANARY_TITLE for r in granted["results"])
