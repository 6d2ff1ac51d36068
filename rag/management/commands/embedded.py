"""Stop the embedded PostgreSQL and Redis of the development mode: ``manage.py embedded stop``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config import embedded


class Command(BaseCommand):
    help = "Manage the embedded PostgreSQL and Redis servers (development mode)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["stop", "status"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self.stdout.write(f"data directory: {settings.DATA_DIR}")
            self.stdout.write(f"database: {settings.DATABASES['default']['HOST']}")
            self.stdout.write(f"broker:   {settings.CELERY_BROKER_URL}")
            return
        from django.db import connections

        connections.close_all()
        pg = embedded.postgres_stop(settings.DATA_DIR)
        redis = embedded.redis_stop(settings.DATA_DIR)
        self.stdout.write(
            f"PostgreSQL {'stopped' if pg else 'was not running'}; "
            f"Redis {'stopped' if redis else 'was not running'}."
        )
