"""A GPU embedding server (EMBEDDING_BASE_URL): against a real vLLM serving MiniLM, and against servers that
misbehave for real (small HTTP servers on loopback: refused, overloaded, wrong answers)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from inference import embedding_server, embeddings
from inference.embedding_server import EmbeddingServerError, EmbeddingServerUnavailable
from tests.conftest import ROOT, SERVED_MINILM, WAIT_S

ENGLISH = [
    "Annual leave: every employee has 24 days of paid leave per year.",
    "The server room can only be entered with a badge issued by facilities.",
    "Invoices are paid within thirty days of receipt.",
    "How many vacation days do I get?",
]


# --- a real server: vLLM's CPU build serving the bundled MiniLM weights -------------------------------------


@pytest.mark.slow
def test_served_minilm_gives_the_in_process_vectors(served_embeddings: str) -> None:
    assert embeddings.active_key() == served_embeddings == f"server:{SERVED_MINILM}"
    remote = embeddings.embed(ENGLISH, key=served_embeddings)
    local = embeddings.embed(ENGLISH, key=embeddings.MINILM)
    assert remote.dtype == np.float32 and remote.shape == local.shape == (len(ENGLISH), 384)
    assert np.allclose(np.linalg.norm(remote, axis=1), 1.0, atol=1e-5)
    # vLLM reads the folder's sentence-transformers modules: mean pooling, then normalisation.
    assert (remote * local).sum(axis=1).min() > 0.999
    query = embeddings.embed_query("how much paid leave is there", key=served_embeddings)
    assert float(query @ local[0]) > float(query @ local[2])


@pytest.mark.slow
def test_batches_give_the_same_vectors_as_one_request(served_embeddings: str, settings: Any) -> None:
    whole = embeddings.embed(ENGLISH)
    settings.EMBEDDING_SERVER_BATCH = 3
    assert np.allclose(embeddings.embed(ENGLISH), whole, atol=1e-4)
    assert embeddings.embed([]).shape == (0, 384)


@pytest.mark.slow
def test_served_model_window_tokenizer_prefixes_and_width(served_embeddings: str, settings: Any) -> None:
    assert embeddings.max_tokens() == 256  # vLLM's max_model_len, from the folder's max_seq_length
    assert embeddings.tokenizer().get_vocab_size() == embeddings.tokenizer(embeddings.MINILM).get_vocab_size()
    assert embeddings.prompts() == {}
    assert embeddings.dimensions() == embeddings.configured_dimensions() == 384
    assert embeddings.resolvable(served_embeddings)
    assert embeddings.resolvable(embeddings.E5_SMALL)  # bundled vectors stay searchable while re-embedding
    settings.EMBEDDING_MAX_TOKENS = 128
    assert embeddings.max_tokens() == 128


@pytest.mark.slow
@pytest.mark.django_db
def test_health_reports_the_served_model(
    served_embeddings: str, alice: Any, client_for: Any, settings: Any
) -> None:
    body = client_for(alice).get("/api/v1/health").json()
    assert body["components"]["embedding_model"] == {
        "status": "ok",
        "model": served_embeddings,
        "server": settings.EMBEDDING_BASE_URL,
        "served_model": SERVED_MINILM,
        "answers": True,
        "dimensions": 384,
        "max_tokens": 256,
        "prefixes": {},
        "collections_reembedding": 0,
    }
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    response = client_for(alice).get("/api/v1/health")
    assert response.status_code == 503
    component = response.json()["components"]["embedding_model"]
    assert component["answers"] is True
    assert component["detail"] == (
        f"the embedding server does not serve EMBEDDING_MODEL='multilingual-e5-large' (it serves: {SERVED_MINILM})"
    )
    settings.EMBEDDING_BASE_URL = f"http://127.0.0.1:{_closed_port()}/v1"
    component = client_for(alice).get("/api/v1/health").json()["components"]["embedding_model"]
    assert component["status"] == "error" and component["answers"] is False
    assert component["detail"].startswith("cannot reach the embedding server at http://127.0.0.1:")


TURKISH = [
    "Çalışanların yıllık izin hakları kanunla belirlenir.",
    "Kargo teslimatları Zonguldak deposundan yapılır.",
]


@pytest.fixture(scope="module")
def served_e5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """vLLM serving the bundled multilingual-e5-small folder under its own name, like a GPU host would serve
    multilingual-e5-large."""
    from inference import local_server

    if not local_server.vllm_python().exists():
        pytest.skip("vLLM is not installed (scripts/bootstrap.sh)")
    port = _closed_port()
    process = local_server.start_embedding(
        model_dir=embeddings.model_path(embeddings.E5_SMALL),
        served_name=embeddings.E5_SMALL,
        port=port,
        log_path=tmp_path_factory.mktemp("vllm-e5") / "vllm.log",
        wait_s=WAIT_S,
    )
    yield f"http://127.0.0.1:{port}/v1"
    os.killpg(process.pid, 15)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)


@pytest.mark.slow
def test_a_served_e5_gets_its_prefixes_and_equals_the_bundled_model(served_e5: str, settings: Any) -> None:
    local = {
        kind: embeddings.embed(TURKISH, kind=kind, key=embeddings.E5_SMALL) for kind in ("query", "passage")
    }
    settings.EMBEDDING_BASE_URL = served_e5
    settings.EMBEDDING_MODEL = embeddings.E5_SMALL
    key = embeddings.active_key()
    assert key == "server:multilingual-e5-small" and embeddings.prompts() == {
        "query": "query: ",
        "passage": "passage: ",
    }
    assert embeddings.max_tokens() == 512 and embeddings.tokenizer().get_vocab_size() > 200_000
    for kind in ("query", "passage"):
        served = embeddings.embed(TURKISH, kind=kind)
        assert (served * local[kind]).sum(axis=1).min() > 0.999, kind  # the same prefixes, the same vectors
    # Without its prefixes the model gives other vectors: the prefixes really are sent.
    settings.EMBEDDING_PASSAGE_PREFIX = ""
    assert (embeddings.embed(TURKISH) * local["passage"]).sum(axis=1).max() < 0.99


# --- configuration --------------------------------------------------------------------------------------------


def test_a_served_model_never_shares_a_key_with_an_in_process_one(settings: Any) -> None:
    settings.EMBEDDING_BASE_URL = "http://127.0.0.1:9/v1"
    settings.EMBEDDING_MODEL = embeddings.E5_SMALL  # the same name as the bundled model
    assert embeddings.active_key() == "server:multilingual-e5-small" != embeddings.E5_SMALL
    assert embeddings.is_served(embeddings.active_key()) and not embeddings.is_served(embeddings.E5_SMALL)
    assert not embeddings.resolvable("server:some-other-model")
    settings.EMBEDDING_BASE_URL = ""
    settings.EMBEDDING_MODEL = ""
    assert not embeddings.resolvable(
        "server:multilingual-e5-small"
    )  # no server: its vectors cannot be queried
    with pytest.raises(embeddings.EmbeddingModelError, match="EMBEDDING_BASE_URL is not set"):
        embeddings.embed(["x"], key="server:multilingual-e5-small")


def test_a_server_without_a_model_name_is_a_configuration_error(settings: Any) -> None:
    settings.EMBEDDING_BASE_URL = "http://127.0.0.1:9/v1"
    settings.EMBEDDING_MODEL = ""
    with pytest.raises(embeddings.EmbeddingModelError, match="EMBEDDING_MODEL is empty"):
        embeddings.active_key()
    result = _start_django(EMBEDDING_BASE_URL="http://127.0.0.1:9/v1", EMBEDDING_MODEL="")
    assert result.returncode != 0
    assert "EMBEDDING_BASE_URL is set but EMBEDDING_MODEL is empty" in result.stderr


@pytest.mark.parametrize(
    ("name", "prefixes", "threshold"),
    [
        ("multilingual-e5-large", {"query": "query: ", "passage": "passage: "}, 0.82),
        ("intfloat/e5-base-v2", {"query": "query: ", "passage": "passage: "}, 0.82),
        ("multilingual-e5-large-instruct", {}, 0.82),
        ("nomic-embed-text-v1.5", {"query": "search_query: ", "passage": "search_document: "}, 0.30),
        ("BAAI/bge-m3", {}, 0.30),
        (SERVED_MINILM, {}, 0.30),
    ],
)
def test_prefixes_and_threshold_follow_the_served_name(
    settings: Any, name: str, prefixes: dict[str, str], threshold: float
) -> None:
    settings.EMBEDDING_BASE_URL = "http://127.0.0.1:9/v1"
    settings.EMBEDDING_MODEL = name
    assert embeddings.prompts() == prefixes
    assert embeddings.min_similarity() == threshold


def test_prefixes_can_be_set_or_switched_off(settings: Any) -> None:
    settings.EMBEDDING_BASE_URL = "http://127.0.0.1:9/v1"
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    settings.EMBEDDING_QUERY_PREFIX = ""
    assert embeddings.prompts() == {"passage": "passage: "}
    settings.EMBEDDING_MODEL = "BAAI/bge-en-icl"
    settings.EMBEDDING_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
    settings.EMBEDDING_PASSAGE_PREFIX = None
    assert embeddings.prompts() == {"query": "Represent this sentence for searching relevant passages: "}


def test_chunks_are_sized_with_a_tokenizer_of_the_served_family(settings: Any, tmp_path: Path) -> None:
    settings.EMBEDDING_BASE_URL = "http://127.0.0.1:9/v1"
    xlmr = embeddings.tokenizer(embeddings.E5_SMALL).get_vocab_size()
    bert = embeddings.tokenizer(embeddings.MINILM).get_vocab_size()
    assert xlmr > 200_000 and bert == 30522
    for name, size in [("multilingual-e5-large", xlmr), ("BAAI/bge-m3", xlmr), ("e5-large-v2", bert)]:
        settings.EMBEDDING_MODEL = name
        assert embeddings.tokenizer().get_vocab_size() == size
    folder = embeddings.model_path(embeddings.E5_SMALL)
    settings.EMBEDDING_TOKENIZER = str(folder)  # a folder holding tokenizer.json, or the file itself
    assert embeddings.tokenizer().get_vocab_size() == xlmr
    settings.EMBEDDING_TOKENIZER = str(tmp_path / "missing.json")
    with pytest.raises(embeddings.EmbeddingModelError, match="missing.json is missing"):
        embeddings.tokenizer()


# --- the egress guard ------------------------------------------------------------------------------------------


def test_a_public_embedding_server_is_refused_at_start_up() -> None:
    result = _start_django(EMBEDDING_BASE_URL="http://8.8.8.8/v1", EMBEDDING_MODEL="multilingual-e5-large")
    assert result.returncode != 0
    assert "Egress guard: EMBEDDING_BASE_URL='http://8.8.8.8/v1' resolves to 8.8.8.8" in result.stderr


def test_a_public_embedding_server_is_refused_on_every_connection(settings: Any) -> None:
    settings.EMBEDDING_BASE_URL = "http://8.8.8.8/v1"  # configured after start-up (the start-up check passed)
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    with pytest.raises(EmbeddingServerError, match="outside ALLOWED_MODEL_NETWORKS") as refused:
        embeddings.embed(["Ayşe Kaya's leave request"])
    assert not isinstance(refused.value, EmbeddingServerUnavailable)  # not retried: it will not get better
    assert "Ayşe" not in str(refused.value)


# --- servers that misbehave --------------------------------------------------------------------------------------


class _Server(BaseHTTPRequestHandler):
    """A small OpenAI-compatible embedding server whose answers each test chooses (``replies``: status code or
    a function of the request body), recording every request."""

    requests: ClassVar[list[dict[str, Any]]] = []
    replies: ClassVar[list[Any]] = []
    width: ClassVar[int] = 4

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"body": body, "authorization": self.headers.get("Authorization", "")})
        reply = type(self).replies.pop(0) if type(self).replies else "ok"
        if isinstance(reply, int):
            self._send(
                reply, b'{"error": {"message": "echoing the input: ' + json.dumps(body).encode() + b'"}}'
            )
            return
        vectors = (
            reply(body["input"]) if callable(reply) else [[1.0] * type(self).width for _ in body["input"]]
        )
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        self._send(200, json.dumps({"object": "list", "data": data, "model": body["model"]}).encode())

    def do_GET(self) -> None:  # noqa: N802
        self._send(404, b"{}")  # no /models route, like some TEI versions

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def fake_server(settings: Any) -> Iterator[type[_Server]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Server.requests, _Server.replies, _Server.width = [], [], 4
    settings.EMBEDDING_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    settings.EMBEDDING_MAX_RETRIES = 2
    yield _Server
    server.shutdown()
    server.server_close()


def test_texts_go_in_batches_with_the_model_prefix_and_the_api_key(
    fake_server: type[_Server], settings: Any
) -> None:
    settings.EMBEDDING_SERVER_BATCH = 2
    settings.EMBEDDING_API_KEY = "sk-test-secret"
    vectors = embeddings.embed(["a", "b", "c", "d", "e"])
    assert vectors.shape == (5, 4) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)  # normalised here
    assert [r["body"]["input"] for r in fake_server.requests] == [
        ["passage: a", "passage: b"],
        ["passage: c", "passage: d"],
        ["passage: e"],
    ]
    assert {r["body"]["model"] for r in fake_server.requests} == {"multilingual-e5-large"}
    assert {r["authorization"] for r in fake_server.requests} == {"Bearer sk-test-secret"}
    embeddings.embed_query("f")
    assert fake_server.requests[-1]["body"]["input"] == ["query: f"]
    assert embeddings.max_tokens() == embeddings.SERVER_DEFAULT_MAX_TOKENS  # no /models: the default window


def test_overload_and_server_errors_are_retried(fake_server: type[_Server]) -> None:
    fake_server.replies = [429, 503]
    assert embeddings.embed(["a"]).shape == (1, 4)
    assert len(fake_server.requests) == 3
    fake_server.replies = [502, 500, 503]
    with pytest.raises(EmbeddingServerUnavailable, match=r"answered HTTP 503$") as failed:
        embeddings.embed(["Ayşe Kaya"])
    assert len(fake_server.requests) == 6  # 1 + EMBEDDING_MAX_RETRIES, then it gives up
    assert "Ayşe" not in str(failed.value)  # neither the input nor the server's body, which echoes it


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, r"HTTP 401 \(check EMBEDDING_API_KEY\)"),
        (404, "HTTP 404"),
        (400, "HTTP 400 .*EMBEDDING_TOKENIZER"),
    ],
)
def test_refused_requests_are_not_retried(fake_server: type[_Server], status: int, message: str) -> None:
    fake_server.replies = [status]
    with pytest.raises(EmbeddingServerError, match=message) as refused:
        embeddings.embed(["Ayşe Kaya"])
    assert not isinstance(refused.value, EmbeddingServerUnavailable)
    assert len(fake_server.requests) == 1 and "Ayşe" not in str(refused.value)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (lambda texts: [[1.0, 0.0]], "returned 1 vectors for 2 inputs"),
        (lambda texts: [[1.0, 0.0], [1.0, 0.0, 0.0]], r"vectors of different widths \(2-3\)"),
        (lambda texts: [[0.0, 0.0], [1.0, 0.0]], "zero or non-finite vectors"),
        (lambda texts: ["AAAA", "AAAA"], "not lists of numbers"),
        (lambda texts: [[1.0, "x"], [1.0, 0.0]], "not lists of numbers"),
    ],
)
def test_garbage_is_an_error_that_says_what_was_wrong(
    fake_server: type[_Server], reply: Any, message: str
) -> None:
    fake_server.replies = [reply]
    with pytest.raises(EmbeddingServerError, match=message) as garbage:
        embeddings.embed(["Ayşe Kaya", "Mehmet Yılmaz"])
    assert not isinstance(garbage.value, EmbeddingServerUnavailable)
    assert len(fake_server.requests) == 1 and "Ayşe" not in str(garbage.value)


def test_a_change_of_width_under_the_same_name_is_refused(fake_server: type[_Server], settings: Any) -> None:
    settings.EMBEDDING_MODEL = "width-test-model"
    assert embeddings.embed(["a"]).shape == (1, 4)
    fake_server.width = 8  # another model behind the same name: its vectors must not join the first's
    with pytest.raises(EmbeddingServerError, match="returned 8-dimensional vectors .* expected 4 .*new name"):
        embeddings.embed(["a"])
    settings.EMBEDDING_DIMENSIONS = 8
    assert embeddings.embed(["a"]).shape == (1, 8)
    settings.EMBEDDING_DIMENSIONS = 1024
    with pytest.raises(EmbeddingServerError, match=r"expected 1024 \(EMBEDDING_DIMENSIONS\)"):
        embeddings.embed(["a"])


def test_a_server_that_is_down_is_unavailable_after_bounded_retries(settings: Any) -> None:
    settings.EMBEDDING_BASE_URL = f"http://user:pw-secret@127.0.0.1:{_closed_port()}/v1"
    settings.EMBEDDING_MODEL = "multilingual-e5-large"
    settings.EMBEDDING_MAX_RETRIES = 1
    with pytest.raises(
        EmbeddingServerUnavailable, match=r"cannot reach the embedding server at http://\*\*\*@"
    ) as down:
        embeddings.embed(["a"])
    assert "pw-secret" not in str(down.value)


def test_a_hung_server_times_out(settings: Any) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.EMBEDDING_BASE_URL = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        settings.EMBEDDING_MODEL = "multilingual-e5-large"
        settings.EMBEDDING_TIMEOUT_S = 1
        settings.EMBEDDING_MAX_RETRIES = 0
        with pytest.raises(EmbeddingServerUnavailable, match="did not answer in time"):
            embedding_server.embed(["a"], model="multilingual-e5-large")


def test_the_api_turns_a_failing_embedding_server_into_503_json() -> None:
    from rest_framework.views import APIView

    from config.api_errors import exception_handler

    response = exception_handler(EmbeddingServerUnavailable("cannot reach it"), {"view": APIView()})
    assert response is not None and response.status_code == 503
    assert response.data == {"detail": "The embedding server could not embed the query: cannot reach it"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_django(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", **env},
    )
