"""The access rule of governance.access applied to the collection table: the ORM querysets and the raw SQL
of the search statement both come from ``collection_rule``, so they cannot disagree."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from governance.access import Permission, collection_rule
from governance.roles import is_compliance_officer
from rag.models import Collection


def collection_ids_sql(user: Any, permission: str = Permission.READ) -> tuple[str, list[Any]]:
    """SQL (and params) selecting the ids of the collections on which ``user`` holds ``permission``."""
    rule, params = collection_rule(user, permission, alias="c")
    return f"SELECT c.id FROM rag_collection c WHERE {rule}", params  # noqa: S608 — constant fragments


def _collections(user: Any, permission: str) -> QuerySet[Collection]:
    if user is None or not user.is_authenticated:
        return Collection.objects.none()
    # noqa: S611 below — constant SQL fragments from governance.access; every value is a bound parameter.
    return Collection.objects.filter(pk__in=RawSQL(*collection_ids_sql(user, permission)))  # noqa: S611


def readable_collections(user: Any) -> QuerySet[Collection]:
    return _collections(user, Permission.READ)


def writable_collections(user: Any) -> QuerySet[Collection]:
    """Collections the user may upload to (and delete documents from): owner or an ``upload`` grant."""
    return _collections(user, Permission.UPLOAD)


def special_collections(user: Any) -> QuerySet[Collection]:
    """Readable collections whose special-category chunks the user may retrieve (a ``special`` grant)."""
    return _collections(user, Permission.SPECIAL)


def can_write(user: Any, collection: Collection) -> bool:
    return writable_collections(user).filter(pk=collection.pk).exists()


def readable_scope(user: Any, collection_ids: list[int] | None = None) -> list[int]:
    """The ids of the collections a question or search may use: readable, narrowed to ``collection_ids``
    when given (never widened). One query; the answer flow computes it once and passes it on."""
    scope = readable_collections(user)
    if collection_ids is not None:
        scope = scope.filter(pk__in=collection_ids)
    return sorted(scope.values_list("pk", flat=True))


def inventory_collection(user: Any, collection_id: int) -> Collection | None:
    """The collection whose records-of-processing entry ``user`` may see: readers of the collection and
    compliance officers (who keep the records of every collection). None: not found or not theirs to see."""
    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is None:
        return None
    if is_compliance_officer(user) or readable_collections(user).filter(pk=collection_id).exists():
        return collection
    return None
