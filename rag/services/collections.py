from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from governance.audit import SYSTEM, Actor, audit_record
from governance.inventory import inventory_set
from rag.models import Collection


class CollectionNameTaken(Exception):
    pass


def collection_create(
    *,
    name: str,
    owner: Any,
    description: str = "",
    inventory: dict[str, Any] | None = None,
    actor: Actor = SYSTEM,
) -> Collection:
    """Create a collection, with its records-of-processing entry when given (raises InventoryError on a bad
    one, and nothing is created). Without a complete entry the collection takes no uploads yet."""
    name = name.strip()
    if not name:
        raise ValueError("A collection needs a name.")
    try:
        with transaction.atomic():
            collection = Collection.objects.create(name=name, description=description.strip(), owner=owner)
            audit_record(
                action="collection.create",
                actor=actor,
                target_type="collection",
                target_id=collection.pk,
                collection_id=collection.pk,
            )
            if inventory is not None:
                inventory_set(collection_id=collection.pk, data=inventory, actor=actor, user=owner)
            return collection
    except IntegrityError as exc:
        raise CollectionNameTaken(f"A collection named {name!r} already exists.") from exc
