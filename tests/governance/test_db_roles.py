"""Least-privilege database roles (config.db_roles) and an audit trail that cannot be quietly emptied.

The service connects as the application role: no DDL, no TRUNCATE, the audit tables SELECT and INSERT only.
Migrations run as the owner role; even the owner cannot TRUNCATE the audit tables (migration governance 0010).
Verification reports a trail shorter than its newest signed checkpoint, an empty one included, as broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from config import db_roles, embedded
from governance.audit import (
    Actor,
    _witness_write,
    audit_checkpoint,
    audit_export,
    audit_record,
    audit_verify,
    checkpoint_data,
    verify_export,
)
from governance.models import AuditCheckpoint, AuditEvent
from governance.roles import COMPLIANCE_GROUP
from tests.conftest import ROOT, WAIT_S, _database_url, as_superuser

pytestmark = pytest.mark.django_db

AUDIT_TABLES = ("governance_auditevent", "governance_auditcheckpoint")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def record(n: int) -> None:
    for i in range(n):
        audit_record(action="search", actor=Actor(user_id=7, role="employee"), details={"i": i})


def app_login() -> psycopg.Connection[Any]:
    """A real login as the application role: what web, worker and beat connect as. A second connection waits
    for the test's transaction's locks: fail rather than hang."""
    conn = db_roles.connect(_database_url())
    conn.execute("SET lock_timeout = '20s'")
    return conn


def owner_login() -> psycopg.Connection[Any]:
    conn = db_roles.connect(settings.DATABASE_OWNER, dbname=settings.TEST_DATABASE_NAME)
    conn.execute("SET lock_timeout = '20s'")
    return conn


def privileges(conn: psycopg.Connection[Any], table: str) -> set[str]:
    return {
        privilege
        for privilege in TABLE_PRIVILEGES
        if conn.execute("SELECT has_table_privilege(%s, %s)", [table, privilege]).fetchone()[0]  # type: ignore[index]
    }


def test_the_service_connects_as_a_role_with_only_what_it_needs() -> None:
    with connection.cursor() as cursor:  # the tests' own connection works as the application role too
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == settings.TEST_APP_ROLE
    with app_login() as conn:
        role = conn.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()
        assert role == (settings.TEST_APP_ROLE, False, False, False, False)
        owned = conn.execute(
            "SELECT (SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole)"
            " + (SELECT count(*) FROM pg_proc WHERE proowner = current_user::regrole)"
            " + (SELECT count(*) FROM pg_namespace WHERE nspowner = current_user::regrole)"
            " + (SELECT count(*) FROM pg_database WHERE datdba = current_user::regrole)"
        ).fetchone()
        assert owned == (0,)
        no_ddl = conn.execute(
            "SELECT has_schema_privilege('public', 'CREATE'), has_database_privilege(current_database(), 'CREATE')"
        ).fetchone()
        assert no_ddl == (False, False)
        for table in AUDIT_TABLES:
            assert privileges(conn, table) == {"SELECT", "INSERT"}, table
        for table in ("rag_chunk", "rag_document", "governance_destructionrecord"):
            assert privileges(conn, table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table


def test_migrations_ran_as_the_owner_role() -> None:
    with owner_login() as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchall()
        assert owners == [(settings.TEST_OWNER_ROLE,)]
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
            False,
        )
        assert conn.execute(
            "SELECT 1 FROM django_migrations WHERE app = 'governance' AND name = '0010_audit_truncate_guard'"
        ).fetchone()


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE governance_auditevent",
        "TRUNCATE governance_auditcheckpoint",
        "TRUNCATE governance_auditevent, governance_auditcheckpoint CASCADE",
        "DELETE FROM governance_auditevent",
        "DELETE FROM governance_auditcheckpoint",
        "UPDATE governance_auditevent SET action = 'nothing happened'",
        "UPDATE governance_auditcheckpoint SET seq = 0",
        # DDL: the guard cannot be switched off by the service either.
        "ALTER TABLE governance_auditevent DISABLE TRIGGER ALL",
        "DROP TRIGGER governance_auditevent_no_truncate ON governance_auditevent",
        "CREATE TABLE emanet_probe (id int)",
        "SET session_replication_role = replica",
    ],
)
def test_the_application_role_cannot_truncate_delete_or_update_the_trail(statement: str) -> None:
    # First over a login of its own (before this test's transaction holds locks on the tables)...
    with app_login() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute(statement)
    # ...then through the tests' connection, with rows and a checkpoint in place.
    record(2)
    audit_checkpoint()
    with (
        pytest.raises(DatabaseError, match="permission denied|must be owner"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.count() == 2 and AuditCheckpoint.objects.count() == 1


@pytest.mark.parametrize("table", [*AUDIT_TABLES, "governance_destructionrecord"])
def test_not_even_the_owner_or_a_superuser_truncates_the_trail_by_accident(table: str) -> None:
    with owner_login() as conn, pytest.raises(psycopg.errors.RaiseException, match="TRUNCATE on"):  # noqa: SIM117
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table)))
    record(1)
    with (
        pytest.raises(DatabaseError, match="append-only: TRUNCATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL ROLE NONE")  # the superuser the tests log in as, triggers on
        cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() == 1


@pytest.fixture
def officer(carol: Any) -> Any:
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    return carol


def test_an_emptied_trail_with_a_signed_checkpoint_is_broken_and_names_it(
    officer: Any, client_for: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record(3)
    checkpoint = audit_checkpoint()
    assert checkpoint is not None
    with as_superuser():
        AuditEvent.objects.all().delete()
    signed_at = checkpoint_data(checkpoint)["created_at"]
    result = audit_verify()
    assert not result.ok and result.broken_seq == 1 and result.rows == 0
    assert "rows 1–3 are gone" in result.reason and "the trail is empty" in result.reason
    assert signed_at in result.reason
    assert result.checkpoint is not None and result.checkpoint["seq"] == 3
    # The API and the command say the same: they call the same service.
    body = client_for(officer).get("/api/v1/audit/verify").json()
    assert body["ok"] is False and body["broken_seq"] == 1 and signed_at in body["reason"]
    with as_superuser():
        AuditEvent.objects.all().delete()  # the API's own audit.verify event
    with pytest.raises(SystemExit) as exit_:
        call_command("audit_verify")
    assert exit_.value.code == 1
    assert "BROKEN at row 1: rows 1–3 are gone" in capsys.readouterr().out


@pytest.fixture
def witness(settings: Any, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "witness" / "audit-checkpoint.json"
    settings.AUDIT_CHECKPOINT_WITNESS = str(path)
    yield path


def checkpoint_committed(capture: Any) -> AuditCheckpoint:
    with capture(execute=True):
        checkpoint = audit_checkpoint()
    assert checkpoint is not None
    return checkpoint


def test_emptying_both_audit_tables_is_found_through_the_witness(
    witness: Path, django_capture_on_commit_callbacks: Any
) -> None:
    record(3)
    checkpoint_committed(django_capture_on_commit_callbacks)
    assert json.loads(witness.read_text())["seq"] == 3 and witness.stat().st_mode & 0o777 == 0o600
    assert audit_verify().ok
    with as_superuser():
        AuditEvent.objects.all().delete()
        AuditCheckpoint.objects.all().delete()
    result = audit_verify()
    assert not result.ok and result.broken_seq == 1 and "rows 1–3 are gone" in result.reason


def test_checkpoints_removed_from_the_database_are_found_through_the_witness(
    witness: Path, django_capture_on_commit_callbacks: Any
) -> None:
    record(2)
    checkpoint_committed(django_capture_on_commit_callbacks)
    record(2)
    checkpoint_committed(django_capture_on_commit_callbacks)
    with as_superuser():
        AuditCheckpoint.objects.filter(seq=4).delete()
    result = audit_verify()
    assert not result.ok and result.broken_seq == 4 and "checkpoints were removed" in result.reason


def test_the_witness_keeps_the_newest_checkpoint_and_a_forged_one_fails(
    witness: Path, django_capture_on_commit_callbacks: Any
) -> None:
    record(2)
    older = audit_checkpoint()  # not committed yet: written below, after a newer one
    record(1)
    checkpoint_committed(django_capture_on_commit_callbacks)
    assert older is not None
    _witness_write(checkpoint_data(older))
    assert json.loads(witness.read_text())["seq"] == 3
    witness.write_text(json.dumps({**json.loads(witness.read_text()), "seq": 2}))
    result = audit_verify()
    assert not result.ok and "signature" in result.reason


def test_an_export_with_every_row_cut_out_fails() -> None:
    record(3)
    export = audit_export()
    assert verify_export(export).ok
    result = verify_export({**export, "events": []})
    assert not result.ok and "rows are gone" in result.reason


def test_the_embedded_database_gives_the_service_the_application_role() -> None:
    if "DATABASE_URL" in os.environ:
        pytest.skip("the tests run against an external server")
    urls = embedded.postgres_urls(settings.DATA_DIR)
    with db_roles.connect(urls.app) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            db_roles.APP_ROLE,
            embedded.DB_NAME,
        )
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
            False,
        )
        assert conn.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone() == (False,)
    with db_roles.connect(urls.owner) as conn:
        assert conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone() == (db_roles.OWNER_ROLE,)


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"emanet_scratch_{uuid.uuid4().hex[:8]}"
    with db_roles.connect(settings.DATABASES["default"], dbname="postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with db_roles.connect(settings.DATABASES["default"], dbname="postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_database_one_superuser_used_for_everything_is_handed_to_the_owner(scratch_database: str) -> None:
    """The upgrade path (manage.py db_roles, the embedded server's first start after this change)."""
    owner, app = settings.TEST_OWNER_ROLE, settings.TEST_APP_ROLE
    with db_roles.connect(settings.DATABASES["default"], dbname=scratch_database) as conn:
        conn.execute(
            "CREATE TABLE governance_auditevent (id bigint GENERATED BY DEFAULT AS IDENTITY, seq int)"
        )
        conn.execute("CREATE TABLE rag_chunk (id serial, text text)")
        conn.execute("CREATE FUNCTION emanet_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        db_roles.database_prepare(conn, owner=owner, app=app)
        db_roles.database_prepare(conn, owner=owner, app=app)  # idempotent
        assert conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchall() == [(owner,)]
        assert conn.execute(
            "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'emanet_probe'"
        ).fetchone() == (owner,)
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(app)))
        assert privileges(conn, "governance_auditevent") == {"SELECT", "INSERT"}
        assert privileges(conn, "rag_chunk") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
        conn.execute("INSERT INTO rag_chunk (text) VALUES ('x')")  # the serial sequence is usable


def on_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def test_the_db_roles_command_sets_a_database_up_as_docker_compose_runs_it(scratch_database: str) -> None:
    """What the compose file's one-shot `migrate` service runs first, with its three URLs."""
    with db_roles.connect(settings.DATABASES["default"], dbname=scratch_database) as conn:
        conn.execute("CREATE TABLE governance_auditcheckpoint (id bigint GENERATED BY DEFAULT AS IDENTITY)")
    app_url = on_database(_database_url(), scratch_database)
    owner_url = app_url.replace(settings.TEST_APP_ROLE, settings.TEST_OWNER_ROLE, 1)
    superuser_url = on_database(
        settings.DATABASE_SUPERUSER_URL or os.environ["DATABASE_URL"], scratch_database
    )
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "EMANET_TEST_WORKER"}},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": app_url,
        "DATABASE_OWNER_URL": owner_url,
        "DATABASE_SUPERUSER_URL": superuser_url,
        "REDIS_URL": settings.CELERY_BROKER_URL,
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "db_roles"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 0, result.stderr
    assert f"roles and privileges set (owner {settings.TEST_OWNER_ROLE}" in result.stdout
    with db_roles.connect(owner_url) as conn:
        assert conn.execute(
            "SELECT pg_get_userbyid(datdba), pg_get_userbyid(relowner) FROM pg_database, pg_class"
            " WHERE datname = current_database() AND relname = 'governance_auditcheckpoint'"
        ).fetchone() == (settings.TEST_OWNER_ROLE, settings.TEST_OWNER_ROLE)
    with db_roles.connect(app_url) as conn:
        assert privileges(conn, "governance_auditcheckpoint") == {"SELECT", "INSERT"}
