"""The LLM client against the real local vLLM server, and against servers that misbehave for real."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from inference import llm as client
from inference.local_server import MODEL_NAME

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_models_lists_the_served_model(llm: str) -> None:
    assert client.models() == [MODEL_NAME]


def test_chat_completion_answers_with_usage(llm: str) -> None:
    completion = client.chat(QUESTION, max_tokens=20, temperature=0)
    assert "paris" in completion.text.lower()
    assert completion.model == MODEL_NAME
    assert completion.usage.prompt_tokens > 5 and 0 < completion.usage.completion_tokens <= 20


def test_streaming_yields_tokens_then_usage(llm: str) -> None:
    state = client.StreamState()
    tokens = list(client.chat_stream(QUESTION, state=state, max_tokens=20, temperature=0))
    assert len(tokens) > 1
    assert "paris" in "".join(tokens).lower()
    assert state.model == MODEL_NAME
    assert len(tokens) <= state.usage.completion_tokens <= len(tokens) + 1  # + the end-of-sequence token
    assert state.finish_reason in {"stop", "length"}


def test_streaming_can_mark_the_accepted_request_before_the_first_token(llm: str) -> None:
    tokens = list(client.chat_stream(QUESTION, state=client.StreamState(), max_tokens=20, mark_accepted=True))
    assert tokens[0] == "" and all(tokens[1:]) and len(tokens) > 2
    assert "paris" in "".join(tokens).lower()


def test_unconfigured_model_is_unavailable(settings: Any) -> None:
    settings.LLM_BASE_URL = ""
    with pytest.raises(client.InferenceUnavailable, match="LLM_BASE_URL is empty"):
        client.chat(QUESTION)


def test_server_down_is_unavailable_after_bounded_retries(settings: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.LLM_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.LLM_MAX_RETRIES = 2
    with pytest.raises(client.InferenceUnavailable, match="cannot reach the model server"):
        client.chat(QUESTION)  # the number of attempts is counted in test_server_errors_are_retried...
    with pytest.raises(client.InferenceUnavailable):
        list(client.chat_stream(QUESTION, state=client.StreamState()))


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: a hung model server."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_slow_server_times_out(settings: Any, silent_server: int) -> None:
    settings.LLM_BASE_URL = f"http://127.0.0.1:{silent_server}/v1"
    settings.LLM_TIMEOUT_S = 1.0
    settings.LLM_MAX_RETRIES = 0
    with pytest.raises(client.InferenceUnavailable, match="did not answer in time"):
        client.chat(QUESTION)


class _Failing(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).calls += 1
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b"overloaded")

    def log_message(self, *args: Any) -> None:
        return


def test_server_errors_are_retried_then_reported(settings: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.LLM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
        settings.LLM_MAX_RETRIES = 1
        _Failing.calls = 0
        with pytest.raises(client.InferenceUnavailable, match="answered HTTP 503"):
            client.chat(QUESTION)
        assert _Failing.calls == 2
    finally:
        server.shutdown()


@pytest.mark.django_db
def test_health_reports_the_model_server(llm: str, alice: Any, client_for: Any, settings: Any) -> None:
    body = client_for(alice).get("/api/v1/health").json()
    assert body["components"]["llm"] == {"status": "ok", "models": [MODEL_NAME]}
    settings.LLM_MODEL = "some-other-model"
    response = client_for(alice).get("/api/v1/health")
    assert response.status_code == 503
    assert "does not serve LLM_MODEL='some-other-model'" in response.json()["components"]["llm"]["detail"]


def test_api_turns_an_unreachable_model_into_503_json(rf: Any) -> None:
    from rest_framework.views import APIView

    from config.api_errors import exception_handler

    response = exception_handler(
        client.InferenceUnavailable("cannot reach the model server"), {"view": APIView()}
    )
    assert response is not None and response.status_code == 503
    assert response.data == {"detail": "The language model is not reachable: cannot reach the model server"}
