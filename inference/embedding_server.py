"""Client for a remote embedding server: an OpenAI-compatible ``POST {EMBEDDING_BASE_URL}/embeddings``, and the
only module that talks to one.

Works with vLLM (``vllm serve <model> --runner pooling``) and with Hugging Face TEI (its OpenAI route); GPU
installs use it for models too large for the CPU (multilingual-e5-large, bge-m3). inference.embeddings decides
when it is used and adds the model's ``query: ``/``passage: `` prefixes; this module sends texts in batches of
EMBEDDING_SERVER_BATCH, retries what is transient, and checks what comes back.

Errors: EmbeddingServerUnavailable when the server is down, hung, overloaded (429) or failing (5xx) after
EMBEDDING_MAX_RETRIES retries with backoff — transient, the caller may try again later (the ingest task does);
EmbeddingServerError for everything retrying will not fix: an address outside ALLOWED_MODEL_NETWORKS, a refused
request (4xx: a bad API key, a model the server does not serve, an input it rejects), and replies that are not
vectors of the expected number and width. Messages name the server (redacted) and what failed, never a text
that was sent nor the server's own error body (it may quote the input).

Every connection goes through the egress guard's transport (inference.egress). Credentials in the URL travel as
basic auth, EMBEDDING_API_KEY as a bearer token; neither appears in a message or a log line.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import numpy as np
from django.conf import settings

from inference.egress import EgressRefused, guarded_transport, redact_url

logger = logging.getLogger(__name__)

# Retry-After from an overloaded server is honoured up to this many seconds per wait.
MAX_RETRY_AFTER_S = 30.0
PROBE_TIMEOUT_S = 3.0


class EmbeddingServerError(Exception):
    """The embedding server gave no usable vectors and retrying will not help. The message is safe to show."""


class EmbeddingServerUnavailable(EmbeddingServerError):
    """The embedding server could not be reached or was failing, after bounded retries: worth trying later."""


@dataclass(frozen=True)
class ServedModel:
    id: str
    max_model_len: int | None  # vLLM reports it; TEI and others may not


def configured_url() -> str:
    if not settings.EMBEDDING_BASE_URL:
        raise EmbeddingServerError("no embedding server is configured (EMBEDDING_BASE_URL is empty)")
    return str(settings.EMBEDDING_BASE_URL).rstrip("/")


def shown_url() -> str:
    return redact_url(configured_url())


def _base_url() -> str:
    """EMBEDDING_BASE_URL without user name and password (those travel as basic auth)."""
    parts = urlsplit(configured_url())
    if parts.username is None and parts.password is None:
        return configured_url()
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))


def _auth() -> httpx.BasicAuth | None:
    parts = urlsplit(configured_url())
    if parts.username is None and parts.password is None:
        return None
    return httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))


_clients: dict[tuple[str, str, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def _client() -> httpx.Client:
    """One pooled client per configuration (httpx.Client is thread-safe): keeps connections to the server."""
    key = (configured_url(), settings.EMBEDDING_API_KEY, float(settings.EMBEDDING_TIMEOUT_S))
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                headers = (
                    {"Authorization": f"Bearer {settings.EMBEDDING_API_KEY}"}
                    if settings.EMBEDDING_API_KEY
                    else {}
                )
                timeout = float(settings.EMBEDDING_TIMEOUT_S)
                # trust_env=False: no proxy from the environment; the guarded transport checks the address of
                # every connection it opens.
                client = httpx.Client(
                    base_url=_base_url(),
                    auth=_auth(),
                    headers=headers,
                    timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                    trust_env=False,
                    transport=guarded_transport(),
                )
                _clients[key] = client
    return client


def _refused(exc: EgressRefused) -> EmbeddingServerError:
    return EmbeddingServerError(f"refused to connect to the embedding server at {shown_url()}: {exc}")


def _unreachable(exc: httpx.TransportError) -> EmbeddingServerUnavailable:
    if isinstance(exc, httpx.TimeoutException):
        return EmbeddingServerUnavailable(f"the embedding server at {shown_url()} did not answer in time")
    return EmbeddingServerUnavailable(
        f"cannot reach the embedding server at {shown_url()} ({type(exc).__name__})"
    )


def _status_error(status: int, model: str) -> EmbeddingServerError:
    if status == 429 or status >= 500:
        return EmbeddingServerUnavailable(f"the embedding server at {shown_url()} answered HTTP {status}")
    if status in (401, 403):
        hint = "check EMBEDDING_API_KEY"
    elif status == 404:
        hint = f"does it serve EMBEDDING_MODEL={model!r} at {shown_url()}/embeddings?"
    elif status in (400, 413, 422):
        hint = "an input longer than the model's window? set EMBEDDING_TOKENIZER / EMBEDDING_MAX_TOKENS"
    else:
        hint = "see the embedding server's log"
    return EmbeddingServerError(
        f"the embedding server at {shown_url()} refused the request: HTTP {status} ({hint})"
    )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None


def _post(payload: dict[str, Any], model: str) -> Any:
    """POST /embeddings with bounded retries of what is transient; the reply's JSON."""
    retries = int(settings.EMBEDDING_MAX_RETRIES)
    for attempt in range(retries + 1):
        wait = min(0.5 * 2**attempt, 8.0)
        try:
            response = _client().post("/embeddings", json=payload)
        except EgressRefused as exc:
            raise _refused(exc) from exc
        except httpx.TransportError as exc:
            error: EmbeddingServerError = _unreachable(exc)
            cause: Exception = exc
        else:
            if response.is_success:
                try:
                    return response.json()
                except ValueError as exc:
                    raise EmbeddingServerError(
                        f"the embedding server at {shown_url()} sent a reply that is not JSON"
                    ) from exc
            error = _status_error(response.status_code, model)
            cause = httpx.HTTPStatusError("", request=response.request, response=response)
            retry_after = _retry_after(response) if response.status_code == 429 else None
            wait = wait if retry_after is None else retry_after
        if not isinstance(error, EmbeddingServerUnavailable) or attempt == retries:
            raise error from cause
        logger.info("embedding server: %s; retry %d of %d in %.1f s", error, attempt + 1, retries, wait)
        time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


# The width each (server, model) answered with first in this process: a later reply of another width means a
# different model behind the same name, whose vectors must not be mixed with the earlier ones.
_widths: dict[tuple[str, str], int] = {}


def known_width(model: str) -> int | None:
    return int(settings.EMBEDDING_DIMENSIONS) or _widths.get((configured_url(), model))


def _vectors(body: Any, count: int, model: str) -> np.ndarray:
    """The reply's vectors in input order, checked: as many as inputs, one width, finite, non-zero; unit length."""
    shown = shown_url()
    try:
        items = sorted(body["data"], key=lambda item: int(item["index"]))
        indices = [int(item["index"]) for item in items]
        rows = [item["embedding"] for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise EmbeddingServerError(
            f"the embedding server at {shown} sent a reply that is not an OpenAI embeddings list"
        ) from exc
    if len(rows) != count or indices != list(range(count)):
        raise EmbeddingServerError(
            f"the embedding server at {shown} returned {len(rows)} vectors for {count} inputs"
        )
    if any(not isinstance(row, list) or not row for row in rows):
        raise EmbeddingServerError(
            f"the embedding server at {shown} sent embeddings that are not lists of numbers"
        )
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise EmbeddingServerError(
            f"the embedding server at {shown} returned vectors of different widths ({widths[0]}-{widths[-1]})"
        )
    expected = known_width(model)
    if expected is not None and widths[0] != expected:
        source = "EMBEDDING_DIMENSIONS" if settings.EMBEDDING_DIMENSIONS else "its earlier replies"
        raise EmbeddingServerError(
            f"the embedding server at {shown} returned {widths[0]}-dimensional vectors for EMBEDDING_MODEL="
            f"{model!r}, expected {expected} ({source}); a different model under the same name? Serve it "
            "under a new name: Emanet then re-embeds every collection with it"
        )
    try:
        vectors = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbeddingServerError(
            f"the embedding server at {shown} sent embeddings that are not lists of numbers"
        ) from exc
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or not np.all(norms > 0):
        raise EmbeddingServerError(f"the embedding server at {shown} returned zero or non-finite vectors")
    _widths.setdefault((configured_url(), model), widths[0])
    return np.asarray(vectors / norms, dtype=np.float32)


def embed(texts: list[str], *, model: str) -> np.ndarray:
    """Unit-length float32 vectors of ``texts`` (prefixes already added), one row each, in order."""
    batch = max(1, int(settings.EMBEDDING_SERVER_BATCH))
    parts = []
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        # truncate_prompt_tokens=-1: vLLM cuts an input at the model's window as sentence-transformers does
        # in-process, instead of refusing it (TEI ignores the field; start it with --auto-truncate).
        payload = {"model": model, "input": chunk, "encoding_format": "float", "truncate_prompt_tokens": -1}
        parts.append(_vectors(_post(payload, model), len(chunk), model))
    if not parts:
        return np.zeros((0, known_width(model) or 0), dtype=np.float32)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def models() -> list[ServedModel] | None:
    """What the server serves (GET /models), with each model's window when it says (vLLM's max_model_len);
    None when the server has no such route (some TEI versions). A quick probe: no retries, short timeout."""
    try:
        response = _client().get("/models", timeout=httpx.Timeout(PROBE_TIMEOUT_S))
    except EgressRefused as exc:
        raise _refused(exc) from exc
    except httpx.TransportError as exc:
        raise _unreachable(exc) from exc
    if response.status_code in (404, 405):
        return None
    if not response.is_success:
        raise _status_error(response.status_code, "")
    try:
        return [
            ServedModel(str(item["id"]), int(item["max_model_len"]) if item.get("max_model_len") else None)
            for item in response.json().get("data", [])
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EmbeddingServerError(
            f"the embedding server at {shown_url()} sent a /models reply that is not an OpenAI model list"
        ) from exc
