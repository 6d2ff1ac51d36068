"""Run inside a network namespace with no route out (tests/e2e/test_offline.py starts it under ``unshare``).

Starts the README's run command (``manage.py serve``: embedded PostgreSQL and Redis, the bundled vLLM model
server, a Celery worker, gunicorn) in a fresh DATA_DIR, then, as a user of the HTTP API would: creates a
collection, uploads a document, waits until the worker has ingested it, searches and asks. Prints one JSON
line, ``OFFLINE-RESULT {...}``, and exits 0 only when every step passed. Everything it started is stopped.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
WAIT_S = float(os.environ.get("EMANET_TEST_WAIT_S", "300"))
DOCUMENT = (
    "Offline handbook. The spare server room key is kept in the blue cabinet on the third floor. "
    "Visitors must sign the guest book at the reception desk before entering the building."
)
INVENTORY = {
    "purpose": "Answering employees' questions from internal documents",
    "legal_basis": "legitimate_interest",
    "data_subject_categories": ["employees"],
    "data_categories": ["identity"],
    "recipients": ["internal staff"],
    "retention_days": 365,
    "special_categories": False,
}


def no_route_out() -> dict[str, Any]:
    """Proof that this namespace cannot reach the outside: no default route, connects fail at once."""
    routes = Path("/proc/net/route").read_text().splitlines()[1:]
    attempts = {}
    for address in ("1.1.1.1", "8.8.8.8", "140.82.112.3"):  # DNS resolvers, github.com
        with socket.socket() as sock:
            sock.settimeout(3)
            attempts[address] = errno.errorcode.get(sock.connect_ex((address, 443)), "connected")
    try:
        socket.getaddrinfo("huggingface.co", 443)
        dns = "resolved"
    except OSError as exc:
        dns = type(exc).__name__
    return {"routes": len(routes), "connect": attempts, "dns": dns}


def wait_until(what: str, check: Any, *, alive: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + WAIT_S
    last: Any = None
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            raise RuntimeError(f"manage.py serve exited ({alive.returncode}) while waiting for {what}")
        try:
            last = check()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    raise RuntimeError(f"timed out waiting for {what}; last: {last!r}")


def main() -> int:
    data_dir = Path(os.environ["DATA_DIR"])
    result: dict[str, Any] = {"offline": no_route_out()}
    offline = result["offline"]
    if offline["routes"] or any(v == "connected" for v in offline["connect"].values()):
        sys.stdout.write("OFFLINE-RESULT " + json.dumps(result) + "\n")
        return 2
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    manage = [PYTHON, str(ROOT / "manage.py")]
    bind = "127.0.0.1:8000"
    log = (data_dir / "serve.log").open("ab")
    serve = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
        [*manage, "serve", "--bind", bind, "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://{bind}"
        http = httpx.Client(base_url=base, timeout=120, trust_env=False)

        seen: dict[str, Any] = {}

        def healthy() -> dict[str, Any] | None:
            body = http.get("/api/v1/health").json()
            seen["health"] = body
            parts = body.get("components", {})
            ok = all(parts.get(name, {}).get("status") == "ok" for name in ("database", "worker", "llm"))
            return body if ok else None

        # Two waits, each bounded by WAIT_S: the bundled model server starts before the web (minutes on a
        # loaded machine), then the worker must answer.
        wait_until("the web server", lambda: http.get("/api/v1/health").status_code, alive=serve)
        try:
            result["health"] = wait_until("a healthy service", healthy, alive=serve)["status"]
        except RuntimeError:
            result["last_health"] = seen.get("health")
            raise
        token_output = subprocess.run(  # noqa: S603
            [*manage, "drf_create_token", "admin"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        token = token_output.strip()  # the command prints the personal token alone (shown once)
        assert re.fullmatch(r"et_[0-9a-f]{8}_\S+", token), "drf_create_token printed no token"
        http.headers["Authorization"] = f"Token {token}"

        created = http.post(
            "/api/v1/collections", json={"name": "Offline", "description": "", "inventory": INVENTORY}
        )
        assert created.status_code == 201, created.text
        upload = http.post(
            "/api/v1/documents",
            data={"collection": "Offline"},
            files={"file": ("handbook.txt", DOCUMENT.encode(), "text/plain")},
        )
        assert upload.status_code == 202, upload.text
        document_id = upload.json()["id"]

        def ingested() -> dict[str, Any] | None:
            detail = http.get(f"/api/v1/documents/{document_id}").json()
            return detail if detail["status"] in {"ready", "failed"} else None

        detail = wait_until("the worker to ingest the upload", ingested, alive=serve)
        result["document"] = {
            "status": detail["status"],
            "error": detail["error"],
            "chunks": detail["chunk_count"],
        }
        assert detail["status"] == "ready", detail

        hits = http.post("/api/v1/search", json={"query": "where is the server room key", "k": 3}).json()
        result["search_top"] = hits["results"][0]["document_id"] if hits["results"] else None
        assert result["search_top"] == document_id, hits

        asked = http.post(
            "/api/v1/ask",
            json={"question": "Where is the spare server room key kept?", "collections": ["Offline"]},
        )
        assert asked.status_code == 200, asked.text
        body = asked.json()
        result["ask"] = {
            "model": body["model"],
            "not_found": body["not_found"],
            "answer_chars": len(body["answer"]),
            "cited": [c.get("document_id") for c in body["citations"]],
        }
        assert body["model"] and not body["not_found"] and body["answer"].strip(), body
        result["passed"] = True
        return 0
    except Exception as exc:  # noqa: BLE001 - reported to the test, which shows the log
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        return 1
    finally:
        sys.stdout.write("OFFLINE-RESULT " + json.dumps(result) + "\n")
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
        subprocess.run([*manage, "embedded", "stop"], cwd=ROOT, env=env, check=False)  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
