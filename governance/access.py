"""Who may read and write which collection. The one place these rules live.

A collection is readable by its owner and by users holding a ``read`` grant on it, directly or through one of
their groups; nobody else, staff included (reading documents is not an administrative privilege). Uploading
needs the owner or a separate ``upload`` grant. Selectors build their SQL from these functions so a
caller cannot forget the check, and vector search filters inside the same statement as the ANN scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from governance.models import CollectionGrant

if TYPE_CHECKING:
    from rag.models import Collection


def _granted(user: Any, permission: str) -> Exists:
    """A grant of ``permission`` on the outer collection to the user or to one of their groups."""
    return Exists(
        CollectionGrant.objects.filter(collection=OuterRef("pk"), permission=permission).filter(
            Q(user=user) | Q(group__in=user.groups.all())
        )
    )


def _key_id(user: Any) -> int | None:
    """The API key a service user stands for (its scope caps whatever grants the user may have picked up)."""
    from governance.models import ApiKey

    return ApiKey.objects.filter(service_user_id=user.pk).values_list("pk", flat=True).first()


def _capped(user: Any, collections: QuerySet[Collection]) -> QuerySet[Collection]:
    key_id = _key_id(user)
    return collections if key_id is None else collections.filter(apikey_scope__id=key_id)


def readable_collections(user: Any) -> QuerySet[Collection]:
    from rag.models import Collection

    if user is None or not user.is_authenticated:
        return Collection.objects.none()
    return _capped(
        user, Collection.objects.filter(Q(owner=user) | _granted(user, CollectionGrant.Permission.READ))
    )


def writable_collections(user: Any) -> QuerySet[Collection]:
    """Collections the user may upload to (and delete documents from): owner or an ``upload`` grant."""
    from rag.models import Collection

    if user is None or not user.is_authenticated:
        return Collection.objects.none()
    return _capped(
        user, Collection.objects.filter(Q(owner=user) | _granted(user, CollectionGrant.Permission.UPLOAD))
    )


def can_write(user: Any, collection: Collection) -> bool:
    return writable_collections(user).filter(pk=collection.pk).exists()


def can_manage(user: Any, collection: Collection) -> bool:
    """Who may grant and revoke access to a collection: its owner and administrators."""
    return bool(
        user is not None and user.is_authenticated and (user.is_staff or collection.owner_id == user.pk)
    )


def readable_collection_ids_sql(user: Any) -> tuple[str, list[Any]]:
    """SQL (and params) selecting the ids of the collections ``user`` may read, for raw selectors."""
    if user is None or not user.is_authenticated:
        return "SELECT NULL::bigint WHERE false", []
    sql = (
        "SELECT c.id FROM rag_collection c WHERE (c.owner_id = %s OR EXISTS ("
        "SELECT 1 FROM governance_collectiongrant g WHERE g.collection_id = c.id AND g.permission = 'read' "
        "AND (g.user_id = %s OR g.group_id IN (SELECT ug.group_id FROM auth_user_groups ug WHERE ug.user_id = %s))))"
    )
    params = [user.pk, user.pk, user.pk]
    key_id = _key_id(user)
    if key_id is not None:  # an API key's service user: never beyond the key's own collections
        sql += " AND c.id IN (SELECT s.collection_id FROM governance_apikey_collections s WHERE s.apikey_id = %s)"
        params.append(key_id)
    return sql, params
