"""Granting and revoking access to collections (services; the API and the admin call these)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from governance.audit import Actor, audit_record
from governance.models import CollectionGrant


class GrantError(ValueError):
    """The grant cannot be made; the message says why."""


def grant_holder(*, username: str | None = None, group_name: str | None = None) -> tuple[Any, Group | None]:
    """The user, or the group, a grant is for; GrantError when there is none or it may hold no grant. The
    admin's form calls it to validate before ``grant_create``."""
    if bool(username) == bool(group_name):
        raise GrantError("Give either a user or a group, not both.")
    if username:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise GrantError(f"No user named {username!r}.")
        if hasattr(user, "api_key"):
            raise GrantError("API keys get their collections when they are created; grant nothing to them.")
        return user, None
    group = Group.objects.filter(name=group_name).first()
    if group is None:
        raise GrantError(f"No group named {group_name!r}.")
    return None, group


def grant_create(
    *,
    collection_id: int,
    permission: str,
    actor: Actor,
    granted_by: Any,
    username: str | None = None,
    group_name: str | None = None,
) -> CollectionGrant:
    if permission not in CollectionGrant.Permission.values:
        raise GrantError("permission must be read, upload or special.")
    user, group = grant_holder(username=username, group_name=group_name)
    try:
        with transaction.atomic():
            grant = CollectionGrant.objects.create(
                collection_id=collection_id,
                user=user,
                group=group,
                permission=permission,
                granted_by=granted_by,
            )
            audit_record(
                action="grant.create",
                actor=actor,
                target_type="grant",
                target_id=grant.pk,
                collection_id=collection_id,
                details={"permission": permission, "user_id": grant.user_id, "group_id": grant.group_id},
            )
    except IntegrityError as exc:
        raise GrantError("This grant already exists.") from exc
    return grant


def grant_revoke(*, grant: CollectionGrant, actor: Actor) -> None:
    """Takes effect on the next request: every access check reads the grants table."""
    with transaction.atomic():
        details = {"permission": grant.permission, "user_id": grant.user_id, "group_id": grant.group_id}
        grant_id, collection_id = grant.pk, grant.collection_id
        grant.delete()
        audit_record(
            action="grant.delete",
            actor=actor,
            target_type="grant",
            target_id=grant_id,
            collection_id=collection_id,
            details=details,
        )
