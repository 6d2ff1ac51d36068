"""Health of each part the service depends on, for /api/v1/health and `manage.py` checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from inference import embedding_server, embeddings, gate, llm
from inference.egress import EgressRefused, check_url, configured_endpoints
from rag.selectors.vectors import collections_pending_count


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        return {"status": "error", "detail": "pgvector extension is not installed; run migrations"}
    return {"status": "ok", "pgvector": row[0]}


def _broker() -> dict[str, Any]:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"status": "ok"}


def _workers() -> dict[str, Any]:
    # limit=1: return at the first answer instead of always waiting out the timeout.
    replies = celery_app.control.ping(timeout=1.0, limit=1) or []
    if not replies:
        return {"status": "error", "detail": "no Celery worker answered; uploads will wait in the queue"}
    return {"status": "ok", "answered": next(iter(replies[0]))}


def _embedding() -> dict[str, Any]:
    if embeddings.server_configured():
        return _embedding_server()
    dims = embeddings.dimensions() if embeddings.is_loaded() else embeddings.configured_dimensions()
    return {
        "status": "ok",
        "model": embeddings.model_name(),
        "dimensions": dims,
        "loaded": embeddings.is_loaded(),
        # After a change of EMBEDDING_MODEL: collections still searched with their old vectors.
        "collections_reembedding": collections_pending_count(),
    }


def _embedding_server() -> dict[str, Any]:
    """The served model: whether the server answers and serves it, its width and window."""
    key = embeddings.active_key()
    name = embeddings.served_name(key)
    report: dict[str, Any] = {"model": key, "server": embedding_server.shown_url(), "served_model": name}
    try:
        served = embedding_server.models()
    except embedding_server.EmbeddingServerError as exc:
        return {"status": "error", **report, "answers": False, "detail": str(exc)}
    if served is not None and name not in [model.id for model in served]:
        listed = ", ".join(model.id for model in served)[:200] or "nothing"
        detail = f"the embedding server does not serve EMBEDDING_MODEL={name!r} (it serves: {listed})"
        return {"status": "error", **report, "answers": True, "detail": detail}
    try:
        report.update(dimensions=embeddings.dimensions(key), max_tokens=embeddings.max_tokens(key))
    except embedding_server.EmbeddingServerError as exc:
        return {"status": "error", **report, "answers": True, "detail": str(exc)}
    return {
        "status": "ok",
        **report,
        "answers": True,
        "prefixes": embeddings.prompts(key),
        "collections_reembedding": collections_pending_count(),
    }


def _egress() -> dict[str, Any]:
    checked = {}
    for endpoint in configured_endpoints():
        try:
            checked[endpoint.setting] = check_url(endpoint.url, setting=endpoint.setting)
        except EgressRefused as exc:
            return {"status": "error", "detail": str(exc)}
    return {"status": "ok", "endpoints": checked}


def _llm() -> dict[str, Any]:
    if not settings.LLM_BASE_URL:
        return {"status": "off", "detail": "LLM_BASE_URL is not set"}
    served = llm.models()
    if settings.LLM_MODEL and settings.LLM_MODEL not in served:
        return {"status": "error", "detail": f"the server does not serve LLM_MODEL={settings.LLM_MODEL!r}"}
    return {"status": "ok", "models": served}


def _model_gate() -> dict[str, Any]:
    """The serving gate's decision: a refused model is an error in enforce mode (questions get 503), a
    warning in warn mode (answers are flagged)."""
    if not settings.LLM_BASE_URL:
        return {"status": "off", "detail": "LLM_BASE_URL is not set"}
    decision = gate.gate_check()
    if decision.allowed:
        state = "ok"
    else:
        state = "error" if decision.mode == "enforce" else "warning"
    return {"status": state, **decision.as_dict()}


CHECKS = {
    "database": _database,
    "broker": _broker,
    "worker": _workers,
    "embedding_model": _embedding,
    "egress": _egress,
    "llm": _llm,
    "model_gate": _model_gate,
}


def health_report() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            components[name] = check()
        except Exception as exc:  # noqa: BLE001 - a health probe reports every failure instead of raising
            components[name] = {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    healthy = all(component["status"] != "error" for component in components.values())
    return {"status": "ok" if healthy else "degraded", "components": components}
