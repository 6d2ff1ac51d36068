"""Accounts and roles: the one audited way to create a user, change their role (staff, superuser, active,
compliance officer), their groups and permissions, and a group's name, members and permissions.

The admin (governance.admin), ``manage.py createsuperuser`` and the first administrator of ``manage.py serve``
call these; each change is an audit event naming who did it (the actor) and whom (the user's id — never a
name or an e-mail address), with the value before and after:

- ``user.create``      details: is_staff, is_superuser, is_active
- ``user.role_change`` details: role (staff | superuser | compliance_officer), before, after
- ``user.activate`` / ``user.deactivate``   (a disabled account's personal tokens are revoked with it)
- ``user.group_change``       details: group_id, group, before, after (membership, True/False)
- ``user.permission_change``  details: added, removed (permission codenames)
- ``user.password_set`` (details: usable), ``user.delete``

Nobody changes their own role (``RoleChangeRefused``): separation of duties needs a second person.
- ``group.create``, ``group.rename`` (before, after), ``group.permission_change``, ``group.delete`` (members)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from governance.audit import Actor, audit_record
from governance.roles import COMPLIANCE_GROUP
from governance.tokens import personal_tokens_revoke_all

ROLE_FLAGS = {"is_staff": "staff", "is_superuser": "superuser"}


class RoleChangeRefused(ValueError):
    """The change is not allowed; the message says why."""


def _refuse_own(*, user: Any, actor: Actor) -> None:
    """Separation of duties: nobody changes their own role (staff, superuser, active, compliance officer),
    groups (they carry grants) or permissions; another administrator does, and the trail names both."""
    if actor.user_id is not None and actor.user_id == user.pk:
        raise RoleChangeRefused("Nobody changes their own role: ask another administrator.")


def _user_event(action: str, *, user: Any, actor: Actor, details: dict[str, Any] | None = None) -> None:
    audit_record(action=action, actor=actor, target_type="user", target_id=user.pk, details=details or {})


def user_create(
    *,
    username: str,
    actor: Actor,
    password: str | None = None,
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> Any:
    """A new account (``password`` None: no usable password, e.g. directory sign-in only). The first
    administrator of ``manage.py serve`` is made here, with ``is_superuser=True``."""
    model = get_user_model()
    with transaction.atomic():
        user = model.objects.create_user(
            username=username,
            email=email,
            password=password,
            is_staff=is_staff or is_superuser,
            is_superuser=is_superuser,
        )
        user_created(user=user, actor=actor)
    return user


def user_created(*, user: Any, actor: Actor) -> None:
    """Audit a user that a framework form or command has just created (the admin's add form,
    ``createsuperuser``): what role it starts with."""
    _user_event(
        "user.create",
        user=user,
        actor=actor,
        details={"is_staff": user.is_staff, "is_superuser": user.is_superuser, "is_active": user.is_active},
    )


def user_roles_set(
    *,
    user: Any,
    actor: Actor,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
    is_active: bool | None = None,
) -> list[str]:
    """Change the flags given (None: leave it). One audit event per flag that changes; returns their actions.
    Disabling an account revokes its personal tokens too (sessions and API keys are refused on their next
    request because every authentication reads ``is_active``)."""
    wanted = {"is_staff": is_staff, "is_superuser": is_superuser, "is_active": is_active}
    actions: list[str] = []
    with transaction.atomic():
        current = type(user).objects.select_for_update().get(pk=user.pk)
        changed = [
            flag for flag, value in wanted.items() if value is not None and getattr(current, flag) != value
        ]
        if changed:
            _refuse_own(user=user, actor=actor)
        for flag in changed:
            setattr(current, flag, wanted[flag])
            setattr(user, flag, wanted[flag])
        if not changed:
            return actions
        current.save(update_fields=changed)
        for flag in changed:
            if flag == "is_active":
                action = "user.activate" if wanted[flag] else "user.deactivate"
                _user_event(action, user=user, actor=actor)
            else:
                action = "user.role_change"
                details = {"role": ROLE_FLAGS[flag], "before": not wanted[flag], "after": wanted[flag]}
                _user_event(action, user=user, actor=actor, details=details)
            actions.append(action)
        if is_active is False and "is_active" in changed:
            personal_tokens_revoke_all(user=user, actor=actor)
    return actions


def _membership_event(*, user: Any, group: Group, member: bool, actor: Actor) -> None:
    _refuse_own(user=user, actor=actor)  # a group carries grants (and may be the compliance officers)
    if group.name == COMPLIANCE_GROUP:
        # Becoming (or ceasing to be) a compliance officer is a role change: the trail says so in so many words.
        details = {"role": "compliance_officer", "group_id": group.pk, "before": not member, "after": member}
        _user_event("user.role_change", user=user, actor=actor, details=details)
    details = {"group_id": group.pk, "group": group.name, "before": not member, "after": member}
    _user_event("user.group_change", user=user, actor=actor, details=details)


def user_groups_set(*, user: Any, groups: Iterable[Group], actor: Actor) -> None:
    """Make ``user``'s groups exactly ``groups``: each group joined or left is an audit event (and a role
    change when it is the compliance officers' group)."""
    wanted = {g.pk: g for g in groups}
    with transaction.atomic():
        current = {g.pk: g for g in user.groups.select_for_update()}
        for pk in sorted(set(wanted) - set(current)):
            user.groups.add(wanted[pk])
            _membership_event(user=user, group=wanted[pk], member=True, actor=actor)
        for pk in sorted(set(current) - set(wanted)):
            user.groups.remove(current[pk])
            _membership_event(user=user, group=current[pk], member=False, actor=actor)


def group_members_set(*, group: Group, users: Iterable[Any], actor: Actor) -> None:
    """Make ``group``'s members exactly ``users`` (each join or leave audited as in ``user_groups_set``)."""
    wanted = {u.pk: u for u in users}
    with transaction.atomic():
        current = {u.pk: u for u in group.user_set.select_for_update()}
        for pk in sorted(set(wanted) - set(current)):
            group.user_set.add(wanted[pk])
            _membership_event(user=wanted[pk], group=group, member=True, actor=actor)
        for pk in sorted(set(current) - set(wanted)):
            group.user_set.remove(current[pk])
            _membership_event(user=current[pk], group=group, member=False, actor=actor)


def _codenames(permissions: Iterable[Permission]) -> dict[int, str]:
    return {p.pk: f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def user_permissions_set(*, user: Any, permissions: Iterable[Permission], actor: Actor) -> None:
    wanted = _codenames(permissions)
    with transaction.atomic():
        current = _codenames(user.user_permissions.select_related("content_type"))
        added, removed = sorted(set(wanted) - set(current)), sorted(set(current) - set(wanted))
        if not added and not removed:
            return
        _refuse_own(user=user, actor=actor)
        user.user_permissions.set(list(wanted))
        details = {"added": sorted(wanted[p] for p in added), "removed": sorted(current[p] for p in removed)}
        _user_event("user.permission_change", user=user, actor=actor, details=details)


def user_profile_changed(*, user: Any, fields: Iterable[str], actor: Actor) -> None:
    """Audit a change of an account's own data (user name, names, e-mail) made through a framework form:
    which fields changed, never their values (personal data)."""
    changed = sorted(fields)
    if changed:
        _user_event("user.profile_change", user=user, actor=actor, details={"fields": changed})


def user_password_changed(*, user: Any, actor: Actor) -> None:
    """Audit a password that the admin's password form has just set (or disabled) for ``user``: an
    administrator who sets somebody's password can sign in as them, so it is never silent. Neither the
    password nor its hash is recorded."""
    _user_event("user.password_set", user=user, actor=actor, details={"usable": user.has_usable_password()})


def user_delete(*, user: Any, actor: Actor) -> None:
    with transaction.atomic():
        user_id = user.pk
        details = {"is_staff": user.is_staff, "is_superuser": user.is_superuser}
        user.delete()
        audit_record(
            action="user.delete", actor=actor, target_type="user", target_id=user_id, details=details
        )


def _group_event(action: str, *, group_id: int, actor: Actor, details: dict[str, Any] | None = None) -> None:
    audit_record(action=action, actor=actor, target_type="group", target_id=group_id, details=details or {})


def group_save(*, group: Group, name: str, actor: Actor) -> Group:
    """Create a group or rename one. The compliance officers' group can be neither renamed nor made by
    renaming another: its name is the role (governance.roles)."""
    name = name.strip()
    with transaction.atomic():
        if group.pk is None:
            group.name = name
            group.save()
            _group_event("group.create", group_id=group.pk, actor=actor, details={"group": name})
            return group
        before = Group.objects.select_for_update().get(pk=group.pk).name
        if before == name:
            return group
        if COMPLIANCE_GROUP in (before, name):
            raise RoleChangeRefused(f"The group {COMPLIANCE_GROUP!r} is a role: it cannot be renamed.")
        group.name = name
        group.save(update_fields=["name"])
        _group_event(
            "group.rename", group_id=group.pk, actor=actor, details={"before": before, "after": name}
        )
    return group


def group_permissions_set(*, group: Group, permissions: Iterable[Permission], actor: Actor) -> None:
    wanted = _codenames(permissions)
    with transaction.atomic():
        current = _codenames(group.permissions.select_related("content_type"))
        added, removed = sorted(set(wanted) - set(current)), sorted(set(current) - set(wanted))
        if not added and not removed:
            return
        if actor.user_id is not None and group.user_set.filter(pk=actor.user_id).exists():
            raise RoleChangeRefused("Nobody changes the permissions of a group they belong to.")
        group.permissions.set(list(wanted))
        details = {"added": sorted(wanted[p] for p in added), "removed": sorted(current[p] for p in removed)}
        _group_event("group.permission_change", group_id=group.pk, actor=actor, details=details)


def group_delete(*, group: Group, actor: Actor) -> None:
    """Deleting a group ends its members' membership: each one is audited, then the group."""
    with transaction.atomic():
        group_members_set(group=group, users=[], actor=actor)
        group_id, name = group.pk, group.name
        group.delete()
        _group_event("group.delete", group_id=group_id, actor=actor, details={"group": name})
