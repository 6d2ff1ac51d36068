"""Who may read and write which collection. The one place these rules live.

A collection is readable by its owner and by users holding a grant on it; nobody else, staff included
(reading documents is not an administrative privilege). Selectors build their SQL from these functions so a
caller cannot forget the check, and vector search filters inside the same statement as the ANN scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from governance.models import CollectionGrant

if TYPE_CHECKING:
    from rag.models import Collection


def readable_collections(user: Any) -> QuerySet[Collection]:
    from rag.models import Collection

    if user is None or not user.is_authenticated:
        return Collection.objects.none()
    granted = CollectionGrant.objects.filter(collection=OuterRef("pk"), user=user)
    return Collection.objects.filter(Q(owner=user) | Exists(granted))


def writable_collections(user: Any) -> QuerySet[Collection]:
    from rag.models import Collection

    if user is None or not user.is_authenticated:
        return Collection.objects.none()
    granted = CollectionGrant.objects.filter(
        collection=OuterRef("pk"), user=user, role=CollectionGrant.Role.EDITOR
    )
    return Collection.objects.filter(Q(owner=user) | Exists(granted))


def can_write(user: Any, collection: Collection) -> bool:
    return writable_collections(user).filter(pk=collection.pk).exists()


def readable_collection_ids_sql(user: Any) -> tuple[str, list[Any]]:
    """SQL (and params) selecting the ids of the collections ``user`` may read, for raw selectors."""
    if user is None or not user.is_authenticated:
        return "SELECT NULL::bigint WHERE false", []
    sql = (
        "SELECT c.id FROM rag_collection c WHERE c.owner_id = %s OR EXISTS ("
        "SELECT 1 FROM governance_collectiongrant g WHERE g.collection_id = c.id AND g.user_id = %s)"
    )
    return sql, [user.pk, user.pk]
