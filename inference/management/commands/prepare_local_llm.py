"""Convert the bundled SmolLM2 GGUF weights to the format vLLM loads (once; ~270 MB under DATA_DIR/models)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from inference import local_server


class Command(BaseCommand):
    help = "Prepare the bundled local model (SmolLM2-135M-Instruct) for vLLM."

    def handle(self, *args: Any, **options: Any) -> None:
        path = local_server.convert_model()
        self.stdout.write(f"Local model ready in {path}")
