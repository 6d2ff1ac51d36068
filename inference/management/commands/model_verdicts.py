"""Recompute every registered model's licence verdict for the declared use — after an upgrade changed the
built-in licence catalogue, for instance. Audited (``model.verdict`` per model)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from governance.audit import Actor
from inference.registry import model_list, verdicts_recompute


class Command(BaseCommand):
    help = "Recompute the licence verdicts of all registered models (audited)."

    def handle(self, *args: Any, **options: Any) -> None:
        changed = verdicts_recompute(actor=Actor(role="command_line"))
        for model in model_list():
            self.stdout.write(f"{model.served_name}: {model.verdict_status} ({model.licence_id})")
        self.stdout.write(f"{changed} verdict(s) changed.")
