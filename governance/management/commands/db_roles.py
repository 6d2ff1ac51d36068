"""Create or refresh the two database roles and their privileges (config.db_roles), connected as a superuser.

    DATABASE_SUPERUSER_URL=postgresql://postgres:…@db/emanet \\
    DATABASE_OWNER_URL=postgresql://emanet_owner:…@db/emanet \\
    DATABASE_URL=postgresql://emanet_app:…@db/emanet  python manage.py db_roles

The owner role's name and password come from DATABASE_OWNER_URL, the application role's and the database from
DATABASE_URL. Idempotent: docker compose runs it before every ``migrate``. It is also the upgrade of a database
that one superuser used for everything: its tables are handed to the owner. The embedded database needs none
of this (config.embedded sets its roles up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from config.db_roles import connect, database_prepare, roles_ensure
from governance.audit import SYSTEM, audit_record


class Command(BaseCommand):
    help = "Create or refresh the owner and application database roles and their privileges (as a superuser)."

    def handle(self, *args: Any, **options: Any) -> None:
        superuser_url: str | None = settings.DATABASE_SUPERUSER_URL
        owner: dict[str, Any] | None = settings.DATABASE_OWNER
        app: dict[str, Any] = settings.DATABASES["default"]
        if not superuser_url:
            raise CommandError("Set DATABASE_SUPERUSER_URL: creating roles takes a superuser.")
        if not owner:
            raise CommandError("Set DATABASE_OWNER_URL: the owner role (migrations) besides DATABASE_URL's.")
        if owner["USER"] == app["USER"]:
            raise CommandError("DATABASE_URL and DATABASE_OWNER_URL must name two different roles.")
        with connect(superuser_url, dbname=app["NAME"]) as conn:
            roles_ensure(
                conn, roles={owner["USER"]: owner["PASSWORD"] or None, app["USER"]: app["PASSWORD"] or None}
            )
            database_prepare(conn, owner=owner["USER"], app=app["USER"])
        roles = f"owner {owner['USER']}, application {app['USER']}"
        # A fresh database has no audit trail before its first migrate: then there is nothing to record into.
        if "governance_auditevent" in connection.introspection.table_names():
            audit_record(
                action="database.roles",
                actor=SYSTEM,
                target_type="database",
                target_id=app["NAME"],
                details={"owner": owner["USER"], "application": app["USER"]},
            )
        self.stdout.write(f"Database {app['NAME']}: roles and privileges set ({roles}).")
