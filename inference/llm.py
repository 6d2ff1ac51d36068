"""Client for the language model: vLLM's OpenAI-compatible HTTP API, and the only module that talks to it.

Streaming and non-streaming chat completions with timeouts and bounded retries. Any way the server can be
unavailable (refused, timed out, 5xx, malformed reply, an address outside ALLOWED_MODEL_NETWORKS) surfaces as
one typed error, InferenceUnavailable, which the API turns into a 503 with its message.

Every connection goes through the egress guard's transport (inference.egress): the server's name is resolved and
checked on each connection, not only at start-up. Credentials in LLM_BASE_URL (``http://user:secret@host/v1``)
are sent as HTTP basic auth and never appear in a message, a log line or a URL that httpx logs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from django.conf import settings

from inference.egress import EgressRefused, guarded_transport, redact_url

logger = logging.getLogger(__name__)


class InferenceUnavailable(Exception):
    """The language model could not answer. The message is safe to show (no prompt text in it)."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: Usage
    finish_reason: str | None = None


@dataclass
class StreamState:
    """Filled in while a stream is consumed: the model name, the usage and the finish reason at the end."""

    model: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


def _configured_url() -> str:
    if not settings.LLM_BASE_URL:
        raise InferenceUnavailable("no language model is configured (LLM_BASE_URL is empty)")
    return str(settings.LLM_BASE_URL).rstrip("/")


def _base_url() -> str:
    """LLM_BASE_URL without its user name and password (those travel as basic auth, see ``_client``)."""
    parts = urlsplit(_configured_url())
    if parts.username is None and parts.password is None:
        return _configured_url()
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _shown_url() -> str:
    return redact_url(_configured_url())


def _auth() -> httpx.BasicAuth | None:
    parts = urlsplit(_configured_url())
    if parts.username is None and parts.password is None:
        return None
    return httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))


_clients: dict[tuple[str, str, float, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def _client() -> httpx.Client:
    """One pooled client per configuration, shared by all threads (httpx.Client is thread-safe): creating a
    client costs ~20 ms (TLS context) and a fresh connection per request, which would add to every answer's
    time to first token."""
    key = (_configured_url(), settings.LLM_API_KEY, settings.LLM_TIMEOUT_S, settings.LLM_CONNECT_TIMEOUT_S)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                headers = {"Authorization": f"Bearer {settings.LLM_API_KEY}"} if settings.LLM_API_KEY else {}
                timeout = httpx.Timeout(settings.LLM_TIMEOUT_S, connect=settings.LLM_CONNECT_TIMEOUT_S)
                # trust_env=False: never route model traffic through a proxy from the environment; the guarded
                # transport checks the address of every connection it opens (egress guard).
                client = httpx.Client(
                    base_url=_base_url(),
                    auth=_auth(),
                    headers=headers,
                    timeout=timeout,
                    trust_env=False,
                    transport=guarded_transport(),
                )
                _clients[key] = client
    return client


def _unavailable(exc: Exception) -> InferenceUnavailable:
    if isinstance(exc, EgressRefused):
        return InferenceUnavailable(f"refused to connect to the model server at {_shown_url()}: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return InferenceUnavailable(f"the model server at {_shown_url()} did not answer in time")
    if isinstance(exc, httpx.HTTPStatusError):
        return InferenceUnavailable(f"the model server answered HTTP {exc.response.status_code}")
    return InferenceUnavailable(f"cannot reach the model server at {_shown_url()} ({type(exc).__name__})")


def _retrying(action: str) -> Iterator[int]:
    """Attempt numbers with exponential backoff between them (0.5 s, 1 s, ...)."""
    for attempt in range(settings.LLM_MAX_RETRIES + 1):
        if attempt:
            time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            logger.info("retrying %s (attempt %d)", action, attempt + 1)
        yield attempt


def _payload(
    messages: list[dict[str, str]], *, max_tokens: int, temperature: float, stream: bool
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": settings.LLM_MODEL,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": stream,
    }
    if stream:
        payload["stream_options"] = {"include_usage": True}
    return payload


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def chat(messages: list[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.1) -> Completion:
    last: Exception | None = None
    for attempt in _retrying("chat completion"):
        try:
            response = _client().post(
                "/chat/completions",
                json=_payload(messages, max_tokens=max_tokens, temperature=temperature, stream=False),
            )
            response.raise_for_status()
            body = response.json()
            choice = body["choices"][0]
            usage = body.get("usage") or {}
            return Completion(
                text=choice["message"]["content"] or "",
                model=body.get("model", settings.LLM_MODEL),
                usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
                finish_reason=choice.get("finish_reason"),
            )
        except (httpx.HTTPError, EgressRefused, ValueError, KeyError, IndexError) as exc:
            last = exc
            if not _retryable(exc) or attempt == settings.LLM_MAX_RETRIES:
                break
    if last is None:  # pragma: no cover - the loop always runs at least once
        raise InferenceUnavailable("no attempt was made")
    if isinstance(last, ValueError | KeyError | IndexError):
        raise InferenceUnavailable(
            "the model server sent a reply that is not an OpenAI chat completion"
        ) from last
    raise _unavailable(last) from last


def chat_stream(
    messages: list[dict[str, str]],
    *,
    state: StreamState,
    max_tokens: int = 512,
    temperature: float = 0.1,
    mark_accepted: bool = False,
) -> Generator[str, None, None]:
    """Yield text deltas as they arrive. Retries only before the first token: a stream that breaks midway
    raises InferenceUnavailable (the caller has already shown part of the answer).

    ``mark_accepted``: first yield one empty string as soon as the server has accepted the request (its
    response headers arrived: vLLM sends them before it starts reading the prompt), so a caller can show
    something during the model's own time to first token and still learn first whether the server answers
    at all."""
    announced = not mark_accepted
    for attempt in _retrying("streamed chat completion"):
        started = False
        try:
            with _client().stream(
                "POST",
                "/chat/completions",
                json=_payload(messages, max_tokens=max_tokens, temperature=temperature, stream=True),
            ) as response:
                response.raise_for_status()
                if not announced:
                    announced = True
                    yield ""
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    event = json.loads(data)
                    state.model = event.get("model") or state.model
                    if event.get("usage"):
                        usage = event["usage"]
                        state.usage = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
                    for choice in event.get("choices") or []:
                        state.finish_reason = choice.get("finish_reason") or state.finish_reason
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            started = True
                            yield delta
            return
        except (httpx.HTTPError, EgressRefused, ValueError) as exc:
            if started or not _retryable(exc) or attempt == settings.LLM_MAX_RETRIES:
                if isinstance(exc, ValueError):
                    raise InferenceUnavailable("the model server sent a malformed stream") from exc
                raise _unavailable(exc) from exc


def models() -> list[str]:
    """Model names the server serves (GET /models): a cheap health probe."""
    try:
        response = _client().get("/models", timeout=httpx.Timeout(3.0))
        response.raise_for_status()
        return [item["id"] for item in response.json().get("data", [])]
    except (httpx.HTTPError, EgressRefused, ValueError, KeyError) as exc:
        raise _unavailable(exc) from exc


@dataclass(frozen=True)
class ServedModel:
    id: str
    max_model_len: int | None  # vLLM reports it; other OpenAI-compatible servers may not
    # vLLM: the weights it loaded (the --model path or hub name) behind the served name; "" when not reported.
    root: str = ""


def served_models() -> list[ServedModel]:
    """What the server serves (GET /models), with each model's context window when the server says it."""
    try:
        response = _client().get("/models", timeout=httpx.Timeout(3.0))
        response.raise_for_status()
        return [
            ServedModel(
                str(item["id"]),
                int(item["max_model_len"]) if item.get("max_model_len") else None,
                str(item.get("root") or "")[:500],
            )
            for item in response.json().get("data", [])
        ]
    except (httpx.HTTPError, EgressRefused, ValueError, KeyError, TypeError) as exc:
        raise _unavailable(exc) from exc


@dataclass(frozen=True)
class TokenCount:
    count: int
    max_model_len: int | None


def tokenize_chat(messages: list[dict[str, str]]) -> TokenCount | None:
    """Exact prompt length of ``messages`` under the served model's tokenizer and chat template (vLLM's
    ``POST /tokenize``, which lives beside ``/v1``), plus the server's context window. None when the server
    has no such endpoint (another OpenAI-compatible server): callers then estimate."""
    root = _base_url().removesuffix("/v1")
    payload = {"model": settings.LLM_MODEL, "messages": messages, "add_generation_prompt": True}
    try:
        response = _client().post(f"{root}/tokenize", json=payload)
    except (httpx.HTTPError, EgressRefused) as exc:
        raise _unavailable(exc) from exc
    if response.status_code in (404, 405, 501):
        return None
    try:
        response.raise_for_status()
        body = response.json()
        return TokenCount(int(body["count"]), body.get("max_model_len"))
    except httpx.HTTPStatusError as exc:
        raise _unavailable(exc) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InferenceUnavailable("the model server sent a malformed /tokenize reply") from exc
