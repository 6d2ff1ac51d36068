"""Who may read and write which collection: the one definition of the access rule.

A collection is readable by its owner and by users holding a ``read`` grant on it, directly or through one of
their groups; nobody else, staff included (reading documents is not an administrative privilege). Uploading
needs the owner or a separate ``upload`` grant. Special-category passages (KVKK Art. 6) need a ``special``
grant on a readable collection; ownership alone is not enough. An API key's service user never reaches beyond
the key's own collections, whatever grants it picked up.

The rule is written once, as a SQL predicate over a collection row (``collection_rule``). The domain builds
both its ORM querysets and the raw search statement from it (``rag.selectors.access``), so the two cannot
disagree, and vector search filters inside the same statement as the ANN scan. This module names no table of
the document domain: the predicate reads the row's ``id`` and ``owner_id`` columns under the caller's alias.
"""

from __future__ import annotations

from typing import Any

from governance.models import CollectionGrant
from governance.roles import is_admin, is_compliance_officer

Permission = CollectionGrant.Permission

# A grant of a permission on the row to the user, or to one of their groups.
_GRANTED = (
    "EXISTS (SELECT 1 FROM governance_collectiongrant g WHERE g.collection_id = {a}.id AND g.permission = %s"
    " AND (g.user_id = %s OR g.group_id IN (SELECT ug.group_id FROM auth_user_groups ug WHERE ug.user_id = %s)))"
)
# Not an API key's service user, or the row is in the key's scope.
_KEY_CAP = (
    "(NOT EXISTS (SELECT 1 FROM governance_apikey k WHERE k.service_user_id = %s)"
    " OR {a}.id IN (SELECT s.collection_id FROM governance_apikey_collections s"
    " JOIN governance_apikey k ON k.id = s.apikey_id WHERE k.service_user_id = %s))"
)


def _authenticated(user: Any) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False))


def collection_rule(
    user: Any, permission: str = Permission.READ, *, alias: str = "c"
) -> tuple[str, list[Any]]:
    """SQL predicate (and its parameters) that is true for the collection row ``alias`` when ``user`` holds
    ``permission`` on it: ``read`` and ``upload`` by ownership or grant, ``special`` by a grant on a readable
    collection. Values are bound, never formatted in."""
    if not _authenticated(user):
        return "false", []
    if permission not in Permission.values:
        raise ValueError(f"unknown permission {permission!r}")
    uid = user.pk
    cap = _KEY_CAP.format(a=alias)
    if permission == Permission.SPECIAL:
        readable, params = collection_rule(user, Permission.READ, alias=alias)
        return f"({readable} AND {_GRANTED.format(a=alias)})", [*params, Permission.SPECIAL.value, uid, uid]
    sql = f"(({alias}.owner_id = %s OR {_GRANTED.format(a=alias)}) AND {cap})"
    return sql, [uid, str(permission), uid, uid, uid, uid]


def can_manage(user: Any, collection: Any) -> bool:
    """Who may grant and revoke access to a collection: its owner and administrators."""
    return _authenticated(user) and (is_admin(user) or collection.owner_id == user.pk)


def can_edit_inventory(user: Any, collection: Any) -> bool:
    """The records-of-processing entry: its owner, administrators and compliance officers."""
    return can_manage(user, collection) or is_compliance_officer(user)
