"""Collection use cases: create one (with its records-of-processing entry), change its redaction policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from governance.audit import SYSTEM, Actor, audit_record
from governance.inventory import inventory_set
from governance.pii.policies import redaction_policy_store
from governance.pii.redaction import Policy
from governance.roles import role_of
from rag.models import Collection
from rag.services.documents import collection_reingest


class CollectionNameTaken(Exception):
    """The owner already has a collection of that name. Names are unique per owner only, so this never
    speaks about collections of other users (which the caller may not be allowed to see)."""


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
        # The one unique constraint on a new collection is (owner, name): this is about the owner's own.
        raise CollectionNameTaken(f"A collection of yours named {name!r} already exists.") from exc


def collection_describe(*, collection_id: int, name: str, description: str, actor: Actor) -> Collection:
    """Rename a collection or change its description (the admin), audited with which fields changed — not
    their values, which are the owner's words."""
    name = name.strip()
    if not name:
        raise ValueError("A collection needs a name.")
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        changed = [
            field
            for field, value in (("name", name), ("description", description.strip()))
            if getattr(collection, field) != value
        ]
        if not changed:
            return collection
        if "name" in changed and Collection.objects.filter(owner_id=collection.owner_id, name=name).exists():
            raise CollectionNameTaken(f"The owner already has a collection named {name!r}.")
        collection.name, collection.description = name, description.strip()
        collection.save(update_fields=changed)
        audit_record(
            action="collection.update",
            actor=actor,
            target_type="collection",
            target_id=collection.pk,
            collection_id=collection.pk,
            details={"fields": changed},
        )
    return collection


def redaction_policy_set(
    *, collection_id: int, rules: Mapping[str, str], user: Any, actor: Actor | None = None
) -> tuple[Policy, int]:
    """Store a collection's policy and re-ingest its documents under it (chunks written under the old policy
    would otherwise keep what the new one removes). Returns the policy and how many documents were queued.
    Raises ValueError for an unknown entity type or action."""
    policy = Policy.from_rules(rules)
    with transaction.atomic():
        redaction_policy_store(collection_id=collection_id, policy=policy, user=user)
        queued = collection_reingest(collection_id=collection_id)
        audit_record(
            action="policy.change",
            actor=actor or Actor(user_id=getattr(user, "pk", None), role=role_of(user)),
            target_type="collection",
            target_id=collection_id,
            collection_id=collection_id,
            details={"rules": policy.rules(), "documents_requeued": queued},
        )
    return policy, queued


def collection_owner_set(*, collection_id: int, owner: Any, actor: Actor) -> Collection:
    """Hand a collection to another owner (ownership gives read and upload, and the right to grant them):
    the only way its owner changes, audited with the owner before and after. An API key's service user
    owns nothing (its scope is its key's)."""
    if hasattr(owner, "api_key"):
        raise ValueError("An API key's service user cannot own a collection.")
    if not owner.is_active:
        raise ValueError("A disabled account cannot own a collection.")
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection_id)
        before = collection.owner_id
        if before == owner.pk:
            return collection
        if Collection.objects.filter(owner=owner, name=collection.name).exists():
            # Names are unique per owner: the new owner renames theirs first (or this one is renamed).
            raise ValueError(f"The new owner already has a collection named {collection.name!r}.")
        collection.owner = owner
        collection.save(update_fields=["owner"])
        audit_record(
            action="collection.owner_change",
            actor=actor,
            target_type="collection",
            target_id=collection.pk,
            collection_id=collection.pk,
            details={"before": before, "after": owner.pk},
        )
    return collection
