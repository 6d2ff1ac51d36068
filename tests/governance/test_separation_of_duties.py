"""Separation of duties in /admin/: an administrator cannot act unseen. Role changes, group membership,
ownership transfers, grant deletions and account creation are audit events naming who and whom; what only a
service may change (a collection's owner, a document's title and special-category flags, a redaction policy's
existence) is read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from governance.audit import Actor
from governance.models import AuditEvent, CollectionGrant, RedactionPolicy
from governance.roles import COMPLIANCE_GROUP, is_compliance_officer
from governance.users import (
    RoleChangeRefused,
    group_permissions_set,
    user_create,
    user_groups_set,
    user_permissions_set,
    user_roles_set,
)
from rag.models import Collection, Document

pytestmark = pytest.mark.django_db


def events(action: str, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def user_form(user: Any, **changes: Any) -> dict[str, Any]:
    """The admin's change form for ``user`` as it stands, with ``changes``."""
    data: dict[str, Any] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v not in ("", None)}


def test_role_changes_in_the_admin_are_audited_with_who_and_whom(
    client: Any, admin_user: Any, bob: Any
) -> None:
    officers, _ = Group.objects.get_or_create(name=COMPLIANCE_GROUP)
    client.force_login(admin_user)
    response = client.post(
        f"/admin/auth/user/{bob.pk}/change/",
        user_form(bob, is_staff="on", is_superuser="on", groups=[officers.pk]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    bob.refresh_from_db()
    assert bob.is_staff and bob.is_superuser and is_compliance_officer(bob)

    roles = events("user.role_change", target_id=str(bob.pk))
    assert {(e.details["role"], e.details["before"], e.details["after"]) for e in roles} == {
        ("staff", False, True),
        ("superuser", False, True),
        ("compliance_officer", False, True),
    }
    assert {e.actor_user_id for e in roles} == {admin_user.pk} and {e.target_type for e in roles} == {"user"}
    membership = events("user.group_change", target_id=str(bob.pk))
    assert [(m.details["group_id"], m.details["after"]) for m in membership] == [(officers.pk, True)]
    # Whom is an id: the trail holds no user name or e-mail address.
    assert "bob" not in str([e.details for e in roles + membership])

    bob.refresh_from_db()
    response = client.post(
        f"/admin/auth/user/{bob.pk}/change/",
        user_form(bob, is_active="", is_superuser="", is_staff="", groups=[]),
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active and not is_compliance_officer(bob)
    assert len(events("user.deactivate", target_id=str(bob.pk), actor_user_id=admin_user.pk)) == 1
    left = events("user.role_change", target_id=str(bob.pk))[-3:]
    assert {(e.details["role"], e.details["after"]) for e in left} == {
        ("staff", False),
        ("superuser", False),
        ("compliance_officer", False),
    }


def test_group_membership_changed_from_the_group_page_is_audited(
    client: Any, admin_user: Any, alice: Any, bob: Any
) -> None:
    officers, _ = Group.objects.get_or_create(name=COMPLIANCE_GROUP)
    client.force_login(admin_user)
    response = client.post(
        f"/admin/auth/group/{officers.pk}/change/",
        {"name": COMPLIANCE_GROUP, "members": [alice.pk, bob.pk], "permissions": []},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert is_compliance_officer(alice) and is_compliance_officer(bob)
    joined = events("user.role_change")
    assert sorted(int(e.target_id) for e in joined) == sorted([alice.pk, bob.pk])
    # The officers' group is a role: renaming it (or another group to it) is refused.
    renamed = client.post(
        f"/admin/auth/group/{officers.pk}/change/",
        {"name": "Readers", "members": [alice.pk, bob.pk], "permissions": []},
    )
    assert renamed.status_code == 200 and Group.objects.filter(name=COMPLIANCE_GROUP).exists()
    client.post(f"/admin/auth/group/{officers.pk}/delete/", {"post": "yes"})
    assert not Group.objects.filter(pk=officers.pk).exists()
    assert not is_compliance_officer(alice)
    assert len(events("user.role_change")) == 4 and len(events("group.delete")) == 1


def test_nobody_changes_their_own_role(admin_user: Any) -> None:
    with pytest.raises(RoleChangeRefused):
        user_roles_set(user=admin_user, is_superuser=False, actor=Actor(user_id=admin_user.pk, role="admin"))
    admin_user.refresh_from_db()
    assert admin_user.is_superuser and not events("user.role_change")


def test_users_made_by_the_admin_and_by_createsuperuser_are_audited(
    client: Any, admin_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(admin_user)
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "dana",
            "password1": "a-Long-pw-2024!",
            "password2": "a-Long-pw-2024!",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = events("user.create")
    assert len(created) == 1 and created[0].actor_user_id == admin_user.pk

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "another-Long-pw-2024!")
    call_command("createsuperuser", username="root2", email="", interactive=False, verbosity=0)
    last = events("user.create")[-1]
    assert last.details["is_superuser"] is True and last.role == "command_line"

    first = user_create(
        username="admin2", password="x-Long-pw-2024!", is_superuser=True, actor=Actor(role="system")
    )
    assert events("user.create")[-1].target_id == str(first.pk) and first.is_staff

    before = first.password
    client.post(
        f"/admin/auth/user/{first.pk}/password/",
        {"password1": "new-Long-pw-2024!", "password2": "new-Long-pw-2024!", "usable_password": "true"},
    )
    first.refresh_from_db()
    assert first.password != before
    assert [e.target_id for e in events("user.password_set")] == [str(first.pk)]


def test_a_collection_owner_is_read_only_and_a_transfer_is_audited(
    client: Any, admin_user: Any, alice: Any, bob: Any, collection_a: Collection
) -> None:
    client.force_login(admin_user)
    url = f"/admin/rag/collection/{collection_a.pk}/change/"
    # Posting an owner field changes nothing: it is read-only.
    client.post(url, {"name": "A", "description": "alice's", "owner": admin_user.pk})
    collection_a.refresh_from_db()
    assert collection_a.owner == alice and not events("collection.owner_change")

    response = client.post(url, {"name": "A", "description": "alice's", "transfer_to": bob.pk})
    assert response.status_code == 302
    collection_a.refresh_from_db()
    assert collection_a.owner == bob
    (event,) = events("collection.owner_change")
    assert event.details == {"before": alice.pk, "after": bob.pk} and event.actor_user_id == admin_user.pk
    # No deleting collections (or making them without a records-of-processing entry) in the admin.
    assert client.get(f"/admin/rag/collection/{collection_a.pk}/delete/").status_code == 403
    assert client.get("/admin/rag/collection/add/").status_code == 403


def test_changing_a_users_name_or_e_mail_in_the_admin_is_audited_without_the_values(
    client: Any, admin_user: Any, bob: Any
) -> None:
    client.force_login(admin_user)
    form = client.get(f"/admin/auth/user/{bob.pk}/change/").context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "email": "bob.new@firma.example",
            "groups": [],
            "user_permissions": [],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        }
    )
    for flag in ("is_staff", "is_superuser"):
        data.pop(flag, None)
    data["is_active"] = "on"
    data.pop("last_login", None)
    response = client.post(f"/admin/auth/user/{bob.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    bob.refresh_from_db()
    assert bob.email == "bob.new@firma.example"
    (event,) = events("user.profile_change")
    assert event.details == {"fields": ["email"]} and event.target_id == str(bob.pk)
    assert "firma.example" not in str(AuditEvent.objects.values_list("details", flat=True))


def test_renaming_a_collection_in_the_admin_is_audited_without_the_words(
    client: Any, admin_user: Any, collection_a: Collection
) -> None:
    client.force_login(admin_user)
    url = f"/admin/rag/collection/{collection_a.pk}/change/"
    response = client.post(url, {"name": "Renamed", "description": "new words"})
    assert response.status_code == 302
    collection_a.refresh_from_db()
    assert (collection_a.name, collection_a.description) == ("Renamed", "new words")
    (event,) = events("collection.update")
    assert event.details == {"fields": ["name", "description"]} and event.actor_user_id == admin_user.pk
    client.post(url, {"name": "Renamed", "description": "new words"})  # nothing changed: no event
    assert len(events("collection.update")) == 1


def test_bulk_deleting_grants_in_the_admin_is_audited(
    client: Any, admin_user: Any, bob: Any, carol: Any, collection_a: Collection
) -> None:
    grants = [
        CollectionGrant.objects.create(collection=collection_a, user=user, permission="read")
        for user in (bob, carol)
    ]
    client.force_login(admin_user)
    client.post(
        "/admin/governance/collectiongrant/",
        {"action": "delete_selected", "_selected_action": [g.pk for g in grants], "post": "yes"},
    )
    assert not CollectionGrant.objects.filter(pk__in=[g.pk for g in grants]).exists()
    deleted = events("grant.delete")
    assert sorted(e.details["user_id"] for e in deleted) == sorted([bob.pk, carol.pk])
    assert {e.actor_user_id for e in deleted} == {admin_user.pk}


def test_redaction_policies_cannot_be_deleted_in_the_admin(
    client: Any, admin_user: Any, collection_a: Collection
) -> None:
    policy = RedactionPolicy.objects.create(collection=collection_a, rules={"EMAIL": "keep"})
    client.force_login(admin_user)
    assert (
        client.post(f"/admin/governance/redactionpolicy/{policy.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    client.post(
        "/admin/governance/redactionpolicy/",
        {"action": "delete_selected", "_selected_action": [policy.pk], "post": "yes"},
    )
    assert RedactionPolicy.objects.filter(pk=policy.pk).exists()


def test_a_documents_title_and_special_flags_are_read_only_in_the_admin(
    client: Any, alice: Any, collection_a: Collection
) -> None:
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    document = Document.objects.create(
        collection=collection_a,
        title="psikiyatri raporu",
        original_filename="psikiyatri raporu.pdf",
        mime_type="application/pdf",
        sha256="0" * 64,
        size_bytes=1,
        special_title=True,
        special_declared=True,
        status=Document.Status.READY,
    )
    client.force_login(alice)
    client.post(
        f"/admin/rag/document/{document.pk}/change/",
        {"title": "renamed", "special_title": "", "special_declared": ""},
    )
    document.refresh_from_db()
    assert document.title == "psikiyatri raporu" and document.special_title and document.special_declared
    # The owner holds no special grant: the special-category title is hidden here as on the portal.
    page = client.get(f"/admin/rag/document/{document.pk}/change/").content.decode()
    listing = client.get("/admin/rag/document/").content.decode()
    confirm = client.post(
        "/admin/rag/document/", {"action": "delete_selected", "_selected_action": [document.pk]}
    ).content.decode()
    assert "psikiyatri" not in page and "psikiyatri" not in listing and "psikiyatri" not in confirm


def test_nobody_changes_their_own_groups_or_permissions(admin_user: Any, django_user_model: Any) -> None:
    # Groups carry grants: joining one is as much a privilege change as a role flag.
    finance = Group.objects.create(name="finance")
    acting = Actor(user_id=admin_user.pk, role="admin")
    with pytest.raises(RoleChangeRefused):
        user_groups_set(user=admin_user, groups=[finance], actor=acting)
    assert not admin_user.groups.exists()
    permission = Permission.objects.get(codename="delete_document")
    with pytest.raises(RoleChangeRefused):
        user_permissions_set(user=admin_user, permissions=[permission], actor=acting)
    finance.user_set.add(admin_user)
    with pytest.raises(RoleChangeRefused):
        group_permissions_set(group=finance, permissions=[permission], actor=acting)
    assert not finance.permissions.exists() and not admin_user.user_permissions.exists()
    # Another administrator may, and the trail names both.
    other = django_user_model.objects.create_user("root2", is_staff=True, is_superuser=True)
    user_permissions_set(
        user=admin_user, permissions=[permission], actor=Actor(user_id=other.pk, role="admin")
    )
    (event,) = events("user.permission_change")
    assert event.actor_user_id == other.pk and event.target_id == str(admin_user.pk)
