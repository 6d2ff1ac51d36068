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


def _capped(user: Any, collections: QuerySet[Collection]) -> QuerySet[Collection]:
    """An API key's service user never reaches beyond the key's own collections, whatever grants it picked up.
    In the same statement (no extra query): not a key's user, or the collection is in the key's scope."""
    from governance.models import ApiKey

    is_key_user = Exists(ApiKey.objects.filter(service_user_id=user.pk))
    in_scope = Exists(
        ApiKey.collections.through.objects.filter(
            apikey__service_user_id=user.pk, collection_id=OuterRef("pk")
        )
    )
    return collections.filter(~is_key_user | in_scope)


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


def special_collections(user: Any) -> QuerySet[Collection]:
    """Readable collections whose special-category chunks the user may retrieve: a ``special`` grant to them
    or one of their groups. Ownership alone is not enough (need to know, KVKK Art. 6)."""
    return readable_collections(user).filter(_granted(user, CollectionGrant.Permission.SPECIAL))


def can_write(user: Any, collection: Collection) -> bool:
    return writable_collections(user).filter(pk=collection.pk).exists()


def can_manage(user: Any, collection: Collection) -> bool:
    """Who may grant and revoke access to a collection: its owner and administrators."""
    return bool(
        user is not None and user.is_authenticated and (user.is_staff or collection.owner_id == user.pk)
    )


def inventory_collection(user: Any, collection_id: int) -> Collection | None:
    """The collection whose records-of-processing entry ``user`` may see: readers of the collection and
    compliance officers (who keep the records of every collection). None: not found or not theirs to see."""
    from governance.roles import is_compliance_officer
    from rag.models import Collection

    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is None:
        return None
    if is_compliance_officer(user) or readable_collections(user).filter(pk=collection_id).exists():
        return collection
    return None


def can_edit_inventory(user: Any, collection: Collection) -> bool:
    """Its owner, administrators and compliance officers."""
    from governance.roles import is_compliance_officer

    return can_manage(user, collection) or is_compliance_officer(user)


def readable_collection_ids_sql(user: Any) -> tuple[str, list[Any]]:
    """SQL (and params) selecting the ids of the collections ``user`` may read, for raw selectors."""
    if user is None or not user.is_authenticated:
        return "SELECT NULL::bigint AS id WHERE false", []
    sql = (
        "SELECT c.id FROM rag_collection c WHERE (c.owner_id = %s OR EXISTS ("
        "SELECT 1 FROM governance_collectiongrant g WHERE g.collection_id = c.id AND g.permission = 'read' "
        "AND (g.user_id = %s OR g.group_id IN (SELECT ug.group_id FROM auth_user_groups ug WHERE ug.user_id = %s))))"
    )
    # An API key's service user: never beyond the key's own collections (see _capped).
    sql += (
        " AND (NOT EXISTS (SELECT 1 FROM governance_apikey k WHERE k.service_user_id = %s)"
        " OR c.id IN (SELECT s.collection_id FROM governance_apikey_collections s"
        " JOIN governance_apikey k ON k.id = s.apikey_id WHERE k.service_user_id = %s))"
    )
    return sql, [user.pk, user.pk, user.pk, user.pk, user.pk]


def special_collection_ids_sql(user: Any) -> tuple[str, list[Any]]:
    """SQL (and params) selecting, among the readable collections, those where ``user`` holds a ``special``
    grant (directly or through a group): the only ones whose special-category chunks they retrieve."""
    if user is None or not user.is_authenticated:
        return "SELECT NULL::bigint AS id WHERE false", []
    readable, params = readable_collection_ids_sql(user)
    sql = (
        f"SELECT r.id FROM ({readable}) r WHERE EXISTS ("  # noqa: S608 — constant fragments; values are bound
        "SELECT 1 FROM governance_collectiongrant g WHERE g.collection_id = r.id AND g.permission = 'special' "
        "AND (g.user_id = %s OR g.group_id IN (SELECT ug.group_id FROM auth_user_groups ug WHERE ug.user_id = %s)))"
    )
    return sql, [*params, user.pk, user.pk]
