"""``manage.py inventory [--format csv|json]``: the records of processing of every collection."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance.compliance.inventory import inventory_csv, inventory_rows


class Command(BaseCommand):
    help = "Export the records of processing (one entry per collection) as CSV or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = inventory_rows()
        if options["format"] == "json":
            self.stdout.write(json.dumps({"collections": rows}, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(inventory_csv(rows), ending="")
