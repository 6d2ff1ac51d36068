"""Least-privilege database roles: the owner runs migrations, the service connects as the application role.

- **owner** (``emanet_owner``): owns the database, its ``public`` schema and every table, sequence and
  function in it; ``manage.py migrate`` connects as it (``DATABASE_OWNER_URL``). Not a superuser.
- **application** (``emanet_app``): what web, worker and beat connect as (``DATABASE_URL``): SELECT, INSERT,
  UPDATE, DELETE on the tables and USAGE on the sequences; on the audit trail's tables (APPEND_ONLY_TABLES)
  only SELECT and INSERT. No TRUNCATE anywhere, no CREATE on the schema or the database (no DDL), owner of
  nothing, not a superuser. On PostgreSQL 17+ it also holds MAINTAIN (VACUUM/ANALYZE) on the tables it may
  delete from: the erasure service vacuums the passages it deleted (rag.services.deletion.chunks_vacuum).

``roles_ensure`` and ``database_prepare`` are run by a superuser: by the embedded server's set-up
(config.embedded), by ``manage.py db_roles`` (docker compose, upgrading a database that one superuser owned)
and by the tests' database set-up (tests.conftest). Both are idempotent. New tables that migrations create
get the application's privileges from the owner's default privileges; migration governance 0010 narrows the
audit tables and adds the TRUNCATE guard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from psycopg import sql
from psycopg.conninfo import make_conninfo

OWNER_ROLE = "emanet_owner"
APP_ROLE = "emanet_app"
# The audit trail: hash-chained events and their signed checkpoints (governance.models). The application may
# read and append, never change or remove (migration 0003's triggers; migration 0010 and database_prepare
# take the privileges away as well).
APPEND_ONLY_TABLES = ("governance_auditevent", "governance_auditcheckpoint")
APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"


def app_table_privileges(server_version: int) -> str:
    # MAINTAIN exists from PostgreSQL 17 on; without it VACUUM after an erasure is skipped (autovacuum reclaims
    # the space later).
    return "SELECT, INSERT, UPDATE, DELETE" + (", MAINTAIN" if server_version >= 170000 else "")


def connect(conninfo: str | dict[str, Any], *, dbname: str | None = None) -> psycopg.Connection[Any]:
    """An autocommit psycopg connection from a URL or a Django DATABASES entry."""
    if isinstance(conninfo, dict):
        params: dict[str, Any] = {
            "dbname": dbname or conninfo["NAME"],
            "user": conninfo["USER"] or None,
            "password": conninfo["PASSWORD"] or None,
            "host": conninfo["HOST"] or None,
            "port": conninfo["PORT"] or None,
            **{k: v for k, v in conninfo.get("OPTIONS", {}).items() if k != "assume_role"},
        }
        return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})
    return psycopg.connect(make_conninfo(conninfo, **({"dbname": dbname} if dbname else {})), autocommit=True)


def roles_ensure(conn: psycopg.Connection[Any], *, roles: dict[str, str | None]) -> None:
    """Create the login roles that are missing (name → password; None keeps or sets no password) and make
    sure none of them holds more than a login: no superuser, no CREATEDB/CREATEROLE, no replication."""
    for name, password in roles.items():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        statement = sql.SQL(
            "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        ).format(sql.SQL(verb), sql.Identifier(name))
        if password is not None:
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
        conn.execute(statement)


def database_prepare(conn: psycopg.Connection[Any], *, owner: str = OWNER_ROLE, app: str = APP_ROLE) -> None:
    """Give the database ``conn`` is connected to (as a superuser) to ``owner`` and let ``app`` use it.

    Objects another role owns (a database the service used to own as a superuser) are handed to the owner."""
    database = conn.info.dbname
    ident = {"db": sql.Identifier(database), "owner": sql.Identifier(owner), "app": sql.Identifier(app)}
    for statement in (
        "ALTER DATABASE {db} OWNER TO {owner}",
        "REVOKE CREATE ON DATABASE {db} FROM PUBLIC",
        "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app}",
        # Not trusted: only a superuser creates it. The migration's CREATE EXTENSION IF NOT EXISTS is then a no-op.
        "CREATE EXTENSION IF NOT EXISTS vector",
        "ALTER SCHEMA public OWNER TO {owner}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "GRANT USAGE ON SCHEMA public TO {app}",
    ):
        conn.execute(sql.SQL(statement).format(**ident))
    _adopt(conn, owner=owner)
    tables = sql.SQL(app_table_privileges(conn.info.server_version))
    for statement in (
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT {tables} ON TABLES TO {app}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        "GRANT {tables} ON ALL TABLES IN SCHEMA public TO {app}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
    ):
        conn.execute(sql.SQL(statement).format(tables=tables, **ident))
    append_only_restrict(conn, app=app)


def append_only_restrict(conn: psycopg.Connection[Any], *, app: str = APP_ROLE) -> None:
    """The audit tables (where they exist yet): SELECT and INSERT for the application, nothing for PUBLIC."""
    existing = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY(%s)",
        [list(APPEND_ONLY_TABLES)],
    ).fetchall()
    for (table,) in existing:
        names = {"table": sql.Identifier(table), "app": sql.Identifier(app)}
        conn.execute(sql.SQL("REVOKE ALL ON {table} FROM PUBLIC, {app}").format(**names))
        conn.execute(
            sql.SQL("GRANT {privileges} ON {table} TO {app}").format(
                privileges=sql.SQL(APPEND_ONLY_PRIVILEGES), **names
            )
        )


def _adopt(conn: psycopg.Connection[Any], *, owner: str) -> None:
    """Hand every table, view, free-standing sequence and function of the schema to the owner (identity and
    serial sequences follow their table; extension members stay with the extension)."""
    relations = conn.execute(
        """
        SELECT c.oid::regclass::text FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.relowner <> %s::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype IN ('e', 'a', 'i'))
        """,
        [owner],
    ).fetchall()
    for (relation,) in relations:
        # ALTER TABLE also takes views, sequences and foreign tables; the name comes quoted from regclass.
        conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.SQL(relation), sql.Identifier(owner)))
    functions = conn.execute(
        """
        SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> %s::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')
        """,
        [owner],
    ).fetchall()
    for (function,) in functions:
        conn.execute(sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(sql.SQL(function), sql.Identifier(owner)))


@contextlib.contextmanager
def as_owner(alias: str = "default") -> Iterator[None]:
    """Run the block on ``alias`` logged in as the owner role (settings.DATABASE_OWNER): migrations. Without
    an owner configured (one role for everything, as before) nothing changes."""
    owner: dict[str, Any] | None = getattr(settings, "DATABASE_OWNER", None)
    if not owner:
        yield
        return
    connection = connections[alias]
    keys = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    saved = {key: connection.settings_dict[key] for key in keys}
    connection.close()
    # The database name stays: the tests migrate test_emanet, not the name in DATABASE_OWNER_URL.
    connection.settings_dict.update({key: owner[key] for key in keys})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
