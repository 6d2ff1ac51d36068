"""After an upgrade changed the built-in licence catalogue: bring the catalogue's built-in licences the
organisation has not edited to the shipped text (edited ones are listed for review), then recompute every
registered model's licence verdict for the declared use. Audited (``licence.sync``, ``model.verdict``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from governance.audit import Actor
from inference.registry import licences_sync_builtin, model_list, verdicts_recompute


class Command(BaseCommand):
    help = "Sync the built-in licences and recompute the licence verdicts of all registered models (audited)."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor(role="command_line")
        for note in licences_sync_builtin(actor=actor):
            self.stdout.write(note)
        changed = verdicts_recompute(actor=actor)
        for model in model_list():
            self.stdout.write(f"{model.served_name}: {model.verdict_status} ({model.licence_id})")
        self.stdout.write(f"{changed} verdict(s) changed.")
