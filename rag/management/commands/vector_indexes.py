"""Create the vector index of the configured embedding model (and of every model a collection still uses).
Run by ``manage.py migrate`` as the database owner; safe to run again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from config.db_roles import as_owner
from inference import embeddings
from rag.selectors.vectors import searchable_models
from rag.services.vector_indexes import index_create, index_name


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        keys = searchable_models()
        with as_owner():
            for key in keys:
                dims = embeddings.configured_dimensions(key)
                if dims is None:
                    self.stderr.write(
                        f"{key}: width unknown (no 1_Pooling/config.json; or, served, EMBEDDING_DIMENSIONS unset and "
                        "the server did not answer); no index made"
                    )
                    continue
                made = index_create(key, dims)
                if options["verbosity"] > 0:
                    self.stdout.write(
                        f"{index_name(key, dims)} ({key}, {dims} dims): {'created' if made else 'present'}"
                    )
