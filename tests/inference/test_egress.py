from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from inference import llm
from inference.egress import EgressRefused, check_configured, check_url
from tests.conftest import ROOT, WAIT_S


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8001/v1",
        "http://localhost:8001/v1",
        "http://[::1]:8001/v1",
        "https://10.20.30.40/v1",
        "http://172.20.0.5:8000/v1",
        "http://192.168.1.10:8000/v1",
    ],
)
def test_loopback_and_private_endpoints_are_allowed(url: str) -> None:
    assert check_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://8.8.8.8:8000/v1", "resolves to 8.8.8.8, outside ALLOWED_MODEL_NETWORKS"),
        ("https://[2001:4860:4860::8888]/v1", "outside ALLOWED_MODEL_NETWORKS"),
        ("http://169.254.169.254/latest", "resolves to 169.254.169.254"),  # cloud metadata service
        ("http://172.32.0.1/v1", "outside"),  # just past 172.16.0.0/12
        ("http://model.does-not-exist.invalid/v1", "cannot resolve"),
        ("ftp://127.0.0.1/v1", "not an http(s) URL"),
        ("127.0.0.1:8000", "not an http(s) URL"),
    ],
)
def test_public_link_local_unresolvable_and_odd_endpoints_are_refused(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_url(url, setting="LLM_BASE_URL")


def test_allow_list_is_configurable(settings: Any) -> None:
    settings.ALLOWED_MODEL_NETWORKS = ["10.1.0.0/16"]
    assert check_url("http://10.1.2.3/v1")
    with pytest.raises(EgressRefused):
        check_url("http://127.0.0.1/v1")
    settings.ALLOWED_MODEL_NETWORKS = ["not-a-network"]
    with pytest.raises(EgressRefused, match="invalid network"):
        check_url("http://10.1.2.3/v1")


def test_configured_endpoints_are_checked(settings: Any) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:8001/v1"
    check_configured()
    settings.LLM_BASE_URL = "http://1.1.1.1/v1"
    with pytest.raises(EgressRefused, match="LLM_BASE_URL"):
        check_configured()


def test_the_service_refuses_to_start_with_a_public_llm_endpoint() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "LLM_BASE_URL": "http://8.8.8.8/v1",
        },
    )
    assert result.returncode != 0
    assert "Egress guard: LLM_BASE_URL='http://8.8.8.8/v1' resolves to 8.8.8.8" in result.stderr


@pytest.mark.django_db
def test_health_flags_an_endpoint_outside_the_network(alice: Any, client_for: Any, settings: Any) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:8001/v1"
    body = client_for(alice).get("/api/v1/health").json()
    assert body["components"]["egress"] == {"status": "ok", "endpoints": {"LLM_BASE_URL": ["127.0.0.1"]}}
    settings.ALLOWED_MODEL_NETWORKS = ["10.0.0.0/8"]
    response = client_for(alice).get("/api/v1/health")
    assert response.status_code == 503
    assert "outside ALLOWED_MODEL_NETWORKS" in response.json()["components"]["egress"]["detail"]


# --- every connection is checked, not only the start-up -------------------------------------------------


class _ModelServer(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible model server (HTTP/1.0: one connection per request)."""

    requests: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).requests.append((self.path, self.headers.get("Authorization", "")))
        body = json.dumps({"data": [{"id": "m"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def model_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _ModelServer.requests = []
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The edge that cannot be real here: a DNS whose answers for *.internal names the test changes."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in answers:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_name_that_moves_outside_after_start_up_is_refused_on_the_next_connection(
    settings: Any, model_server: int, dns: dict[str, list[str]]
) -> None:
    dns["model.internal"] = ["127.0.0.1"]
    settings.LLM_BASE_URL = f"http://model.internal:{model_server}/v1"
    check_configured()  # what start-up checks: fine
    assert llm.models() == ["m"]

    dns["model.internal"] = ["203.0.113.7"]  # the record now points outside the organisation
    with pytest.raises(llm.InferenceUnavailable, match="resolves to 203.0.113.7, outside ALLOWED_MODEL"):
        llm.models()
    settings.LLM_MAX_RETRIES = 2
    with pytest.raises(llm.InferenceUnavailable, match="refused to connect"):
        llm.chat([{"role": "user", "content": "hello"}])  # refused at once, not retried
    dns["model.internal"] = ["127.0.0.1", "8.8.8.8"]  # one bad address among good ones is enough
    with pytest.raises(llm.InferenceUnavailable, match="resolves to 8.8.8.8"):
        llm.models()
    assert len(_ModelServer.requests) == 1  # nothing reached any server after the change

    dns["model.internal"] = ["127.0.0.1"]
    assert llm.models() == ["m"]


SECRET = "S3cret-Pa55word"
TOKEN = "Query-T0ken-9911"


def test_credentials_in_the_url_travel_as_basic_auth_and_are_never_shown(
    settings: Any, model_server: int, dns: dict[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    dns["model.internal"] = ["127.0.0.1"]
    settings.LLM_BASE_URL = f"http://emanet:{SECRET}@model.internal:{model_server}/v1"
    assert llm.models() == ["m"]
    path, authorization = _ModelServer.requests[-1]
    assert path == "/v1/models"
    assert authorization == "Basic " + base64.b64encode(f"emanet:{SECRET}".encode()).decode()

    messages: list[str] = []
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    settings.LLM_MAX_RETRIES = 0
    for url in (
        f"http://emanet:{SECRET}@127.0.0.1:{dead}/v1?api_key={TOKEN}",
        f"http://emanet:{SECRET}@model.internal:{dead}/v1",
    ):
        settings.LLM_BASE_URL = url
        with pytest.raises(llm.InferenceUnavailable) as refused:
            llm.chat([{"role": "user", "content": "hello"}])
        messages.append(str(refused.value))
    dns["model.internal"] = ["203.0.113.7"]
    with pytest.raises(llm.InferenceUnavailable) as outside:
        llm.models()
    messages.append(str(outside.value))
    for url in (
        f"http://emanet:{SECRET}@203.0.113.7/v1?api_key={TOKEN}",
        f"http://emanet:{SECRET}@nowhere.invalid/v1",
    ):
        with pytest.raises(EgressRefused) as at_start:
            check_url(url, setting="LLM_BASE_URL")
        messages.append(str(at_start.value))

    assert "cannot reach the model server at http://***@127.0.0.1" in messages[0]
    assert "api_key=%2A%2A%2A" in messages[0]
    everything = "\n".join(messages) + caplog.text
    assert SECRET not in everything and TOKEN not in everything and "emanet:" not in everything


def test_credentials_never_reach_health_or_the_start_up_refusal(
    alice: Any, client_for: Any, settings: Any, db: Any
) -> None:
    settings.LLM_BASE_URL = f"http://emanet:{SECRET}@127.0.0.1:9/v1?key={TOKEN}"
    settings.ALLOWED_MODEL_NETWORKS = ["10.0.0.0/8"]
    response = client_for(alice).get("/api/v1/health")
    assert response.status_code == 503
    assert "outside ALLOWED_MODEL_NETWORKS" in response.json()["components"]["egress"]["detail"]
    assert SECRET not in response.content.decode() and TOKEN not in response.content.decode()

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "LLM_BASE_URL": f"http://emanet:{SECRET}@8.8.8.8/v1?key={TOKEN}",
        },
    )
    assert result.returncode != 0
    assert (
        "Egress guard: LLM_BASE_URL='http://***@8.8.8.8/v1?key=%2A%2A%2A' resolves to 8.8.8.8"
        in result.stderr
    )
    assert SECRET not in result.stderr + result.stdout and TOKEN not in result.stderr + result.stdout
