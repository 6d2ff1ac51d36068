"""Django's PostgreSQL backend with one change, for the test suite only (config.settings_test).

The tests' connection logs in as a superuser and works as the application role (``assume_role``): what the
service may not do, a test may not do either. pytest-django empties every table after a transactional test
with one TRUNCATE, which the application role may not run and which the audit tables refuse to everyone
(migration governance 0010). So the flush, and only the flush, runs as the session's superuser with triggers
off, inside its own transaction (SET LOCAL)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list: Iterable[str]) -> None:
        super().execute_sql_flush(
            ["SET LOCAL ROLE NONE", "SET LOCAL session_replication_role = replica", *sql_list]
        )


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
