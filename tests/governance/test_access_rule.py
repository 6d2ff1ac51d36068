"""The access rule as a property: for random owners, grants (to users and to groups: read, upload, special),
group memberships and API keys (a key's service user with grants inside and outside its scope), the ORM
querysets, the raw SQL that the search statement embeds, and the rule as written in words all agree, for
every user and every permission."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.models import ApiKey, CollectionGrant
from rag.models import Collection
from rag.selectors import collection_ids_sql, readable_collections, special_collections, writable_collections

pytestmark = pytest.mark.django_db

PEOPLE = ["p0", "p1", "p2"]
KEYS = ["k0", "k1"]
COLLECTIONS = 5
GROUPS = 2
PERMISSIONS = ["read", "upload", "special"]
QUERYSETS = {"read": readable_collections, "upload": writable_collections, "special": special_collections}


@pytest.fixture
def principals(django_user_model: Any) -> dict[str, Any]:
    users = {name: django_user_model.objects.create_user(username=name) for name in PEOPLE + KEYS}
    for n, name in enumerate(KEYS):
        ApiKey.objects.create(name=name, prefix=f"pfx{n}", key_hash="0" * 64, service_user=users[name])
    groups = [Group.objects.create(name=f"g{i}") for i in range(GROUPS)]
    return {"users": users, "groups": groups, "keys": {k.service_user_id: k for k in ApiKey.objects.all()}}


world_strategy = st.fixed_dictionaries(
    {
        # Owners include the keys' service users: the key's scope caps ownership too.
        "owners": st.lists(
            st.integers(0, len(PEOPLE) + len(KEYS) - 1), min_size=COLLECTIONS, max_size=COLLECTIONS
        ),
        "grants": st.lists(
            st.tuples(
                st.sampled_from(["user", "group"]),
                st.integers(0, len(PEOPLE) + len(KEYS) - 1),
                st.integers(0, COLLECTIONS - 1),
                st.sampled_from(PERMISSIONS),
            ),
            max_size=14,
            unique_by=lambda g: (g[0], g[1] % (GROUPS if g[0] == "group" else 99), g[2], g[3]),
        ),
        "members": st.lists(
            st.tuples(st.integers(0, len(PEOPLE) + len(KEYS) - 1), st.integers(0, GROUPS - 1)),
            max_size=6,
            unique=True,
        ),
        "scopes": st.lists(
            st.sets(st.integers(0, COLLECTIONS - 1), max_size=COLLECTIONS),
            min_size=len(KEYS),
            max_size=len(KEYS),
        ),
    }
)


def _oracle(user: Any, permission: str, world: dict[str, Any]) -> set[int]:
    """The rule in words: read/upload by ownership or a grant (direct or through a group); special by a
    special grant on a readable collection; a key's service user only inside the key's scope."""
    groups = {group_id for user_id, group_id in world["memberships"] if user_id == user.pk}

    def granted(collection_id: int, perm: str) -> bool:
        return any(
            c == collection_id and p == perm and (u == user.pk or g in groups)
            for c, p, u, g in world["grants"]
        )

    def capped(collection_id: int) -> bool:
        scope = world["scopes"].get(user.pk)
        return scope is None or collection_id in scope

    def basic(collection_id: int, perm: str) -> bool:
        owned = world["owners"][collection_id] == user.pk
        return (owned or granted(collection_id, perm)) and capped(collection_id)

    if permission == "special":
        return {c for c in world["owners"] if basic(c, "read") and granted(c, "special")}
    return {c for c in world["owners"] if basic(c, permission)}


def _raw(user: Any, permission: str) -> set[int]:
    sql, params = collection_ids_sql(user, permission)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=world_strategy)
def test_orm_sql_and_rule_agree_for_users_groups_special_grants_and_api_keys(
    principals: dict[str, Any], drawn: dict[str, Any]
) -> None:
    users = list(principals["users"].values())
    groups = principals["groups"]
    with transaction.atomic():
        collections = [
            Collection.objects.create(name=f"c{i}", owner=users[owner])
            for i, owner in enumerate(drawn["owners"])
        ]
        world: dict[str, Any] = {
            "owners": {c.pk: c.owner_id for c in collections},
            "grants": [],
            "memberships": set(),
            "scopes": {},
        }
        for kind, who, target, permission in drawn["grants"]:
            user = users[who] if kind == "user" else None
            group = groups[who % GROUPS] if kind == "group" else None
            CollectionGrant.objects.create(
                collection=collections[target], user=user, group=group, permission=permission
            )
            world["grants"].append(
                (collections[target].pk, permission, user.pk if user else None, group.pk if group else None)
            )
        for who, group_index in drawn["members"]:
            users[who].groups.add(groups[group_index])
            world["memberships"].add((users[who].pk, groups[group_index].pk))
        for key_user_id, scope in zip(principals["keys"], drawn["scopes"], strict=True):
            principals["keys"][key_user_id].collections.set([collections[i] for i in scope])
            world["scopes"][key_user_id] = {collections[i].pk for i in scope}

        for user in users:
            for permission in PERMISSIONS:
                expected = _oracle(user, permission, world)
                orm = set(QUERYSETS[permission](user).values_list("pk", flat=True))
                assert orm == expected, (user.username, permission)
                assert _raw(user, permission) == expected, (user.username, permission)
        for permission in PERMISSIONS:
            assert not QUERYSETS[permission](AnonymousUser()).exists()
            assert _raw(AnonymousUser(), permission) == set()
        transaction.set_rollback(True)
