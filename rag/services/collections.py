from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from rag.models import Collection


class CollectionNameTaken(Exception):
    pass


def collection_create(*, name: str, owner: Any, description: str = "") -> Collection:
    name = name.strip()
    if not name:
        raise ValueError("A collection needs a name.")
    try:
        with transaction.atomic():
            return Collection.objects.create(name=name, description=description.strip(), owner=owner)
    except IntegrityError as exc:
        raise CollectionNameTaken(f"A collection named {name!r} already exists.") from exc
