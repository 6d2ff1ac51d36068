"""Shared fixtures. Everything here is real: PostgreSQL+pgvector, Redis, a Celery worker process, the model.

Three principals make access boundaries easy to test everywhere:
alice owns collection A, bob owns collection B, carol (compliance officer) holds no grants yet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from rag.models import Collection, Document

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def carol(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="carol", password="pw-carol-123")


# A complete records-of-processing entry: collections without one take no uploads (governance.inventory).
INVENTORY: dict[str, Any] = {
    "purpose": "Answering employees' questions from internal documents",
    "legal_basis": "legitimate_interest",
    "data_subject_categories": ["employees", "customers"],
    "data_categories": ["identity", "contact"],
    "recipients": ["internal staff"],
    "retention_days": 3650,
    "special_categories": False,
}


def with_inventory(collection: Collection, **overrides: Any) -> Collection:
    from governance.models import ProcessingRecord

    ProcessingRecord.objects.update_or_create(collection=collection, defaults={**INVENTORY, **overrides})
    return collection


@pytest.fixture
def collection_a(alice: Any) -> Collection:
    return with_inventory(Collection.objects.create(name="A", description="alice's", owner=alice))


@pytest.fixture
def collection_b(bob: Any) -> Collection:
    return with_inventory(Collection.objects.create(name="B", description="bob's", owner=bob))


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    def make(user: Any) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture(scope="session")
def worker_env(django_db_setup: Any, django_db_blocker: Any) -> dict[str, str]:
    """Environment for Celery worker processes: same test database, queue and upload folder as pytest."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "EMANET_TEST_WORKER": "1",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
    }


def _database_url() -> str:
    from urllib.parse import quote

    db = settings.DATABASES["default"]
    auth = quote(str(db["USER"])) + (":" + quote(str(db["PASSWORD"])) if db["PASSWORD"] else "")
    host = str(db["HOST"])
    if host.startswith("/"):
        return f"postgresql://{auth}@/{settings.TEST_DATABASE_NAME}?host={quote(host, safe='/')}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{auth}@{host}{port}/{settings.TEST_DATABASE_NAME}"


class WorkerProcess:
    """A real ``celery worker`` OS process on the test queue."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.name = ""

    def start(self, *, wait: bool = True) -> None:
        from config.celery import app

        self.name = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "-Q",
                settings.CELERY_TASK_DEFAULT_QUEUE,
                "-n",
                self.name,
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait:
            return
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early, see {self.log_path}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise RuntimeError(f"worker did not answer within 90 s, see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, like a crash or an OOM kill: no cleanup, no acknowledgement."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def worker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker") / "worker.log"


@pytest.fixture(scope="session")
def celery_worker(worker_env: dict[str, str], worker_log: Path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(worker_env, worker_log)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def new_worker(worker_env: dict[str, str], worker_log: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(*, wait: bool = True) -> WorkerProcess:
        worker = WorkerProcess(worker_env, worker_log)
        worker.start(wait=wait)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


def wait_for_status(document_id: int, statuses: set[str], timeout: float = 120) -> Document:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = Document.objects.get(pk=document_id)
        if document.status in statuses:
            return document
        time.sleep(0.1)
    raise AssertionError(f"document {document_id} stuck in {document.status!r} after {timeout} s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real bundled model server (vLLM CPU + SmolLM2), started once per test session. Returns its URL."""
    from inference import local_server

    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "vllm.log"
    process = local_server.start(port=port, log_path=log_path)
    yield f"http://127.0.0.1:{port}/v1"
    os.killpg(process.pid, 15)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)


@pytest.fixture
def llm(llm_server: str, settings: Any) -> str:
    from inference.local_server import MODEL_NAME

    settings.LLM_BASE_URL = llm_server
    settings.LLM_MODEL = MODEL_NAME
    return llm_server
