"""Django's ``migrate``, connected as the database owner role (``DATABASE_OWNER_URL``; the embedded database
knows its owner): the role the service connects as has no DDL rights (config.db_roles). Without an owner
configured, it migrates as ``DATABASE_URL``'s role, as Django's own command does."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.commands import migrate

from config.db_roles import as_owner


class Command(migrate.Command):
    help = (
        migrate.Command.help + " Runs as the database owner role (DATABASE_OWNER_URL) when one is configured."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with as_owner(options["database"]):
            super().handle(*args, **options)
        if (
            options["database"] == "default"
            and not options.get("plan")
            and not options.get("check_unapplied")
        ):
            # The configured embedding model's vector index (DDL, so here, as the owner): rag.services.vectors.
            call_command("vector_indexes", verbosity=options["verbosity"])
