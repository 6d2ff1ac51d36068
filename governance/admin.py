"""The admin of the governance layer, users and groups. Every security-relevant change goes through an audited
service (governance.users, grants, apikeys, tokens, inventory; rag.services.collections); what only a service
may change is read-only here."""

from __future__ import annotations

import re
from typing import Any

# Imported first, so that its User and Group admins are registered before they are replaced below (this app
# is listed before django.contrib.auth, whose admin module the admin's autodiscovery would import later).
from django.contrib.auth import admin as auth_admin  # isort: skip

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from governance.admin_base import ReadOnlyAdmin
from governance.apikeys import ApiKeyRefused, api_key_create, api_key_revoke
from governance.audit import actor_for
from governance.grants import GrantError, grant_create, grant_holder, grant_revoke
from governance.inventory import FIELDS, InventoryError, inventory_clean, inventory_set
from governance.models import (
    ApiKey,
    CollectionGrant,
    DestructionRecord,
    PersonalToken,
    ProcessingRecord,
    RedactionPolicy,
    SubjectRequest,
)
from governance.pii.redaction import ENTITY_TYPES, Action, Policy
from governance.roles import COMPLIANCE_GROUP
from governance.tokens import personal_token_revoke
from governance.users import (
    RoleChangeRefused,
    group_delete,
    group_members_set,
    group_permissions_set,
    group_save,
    user_created,
    user_delete,
    user_groups_set,
    user_password_changed,
    user_permissions_set,
    user_profile_changed,
    user_roles_set,
)
from rag.models import Collection
from rag.services.collections import redaction_policy_set

User = get_user_model()
ROLE_FIELDS = ("is_staff", "is_superuser", "is_active")
PROFILE_FIELDS = {"username", "first_name", "last_name", "email"}


class CollectionGrantForm(forms.ModelForm):
    class Meta:
        model = CollectionGrant
        fields = ["collection", "user", "group", "permission"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user, group = data.get("user"), data.get("group")
        try:
            grant_holder(
                username=user.get_username() if user else None, group_name=group.name if group else None
            )
        except GrantError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(CollectionGrant)
class CollectionGrantAdmin(admin.ModelAdmin):
    """Create and delete (one by one or in bulk) through governance.grants, which audits them. A grant is never
    edited: delete it and create another."""

    form = CollectionGrantForm
    list_display = ["collection", "user", "group", "permission", "granted_by", "created_at"]
    list_filter = ["permission", "collection", "group"]
    readonly_fields = ["granted_by"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CollectionGrant, form: Any, change: bool) -> None:
        grant = grant_create(
            collection_id=obj.collection_id,
            permission=obj.permission,
            username=obj.user.get_username() if obj.user else None,
            group_name=obj.group.name if obj.group else None,
            actor=actor_for(request),
            granted_by=request.user,
        )
        obj.pk = grant.pk  # for the admin's log and redirect

    def delete_model(self, request: HttpRequest, obj: CollectionGrant) -> None:
        grant_revoke(grant=obj, actor=actor_for(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CollectionGrant]) -> None:
        for grant in queryset:
            grant_revoke(grant=grant, actor=actor_for(request))


class RedactionPolicyForm(forms.ModelForm):
    """One choice per entity type instead of raw JSON."""

    class Meta:
        model = RedactionPolicy
        fields = ["collection"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        policy = Policy.from_rules(self.instance.rules if self.instance.pk else {})
        for entity_type, label in ENTITY_TYPES.items():
            self.fields[entity_type] = forms.ChoiceField(
                label=str(label),
                choices=[(a.value, a.value) for a in Action],
                initial=str(policy.action(entity_type)),
            )


@admin.register(RedactionPolicy)
class RedactionPolicyAdmin(admin.ModelAdmin):
    form = RedactionPolicyForm
    list_display = ["collection", "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request: HttpRequest, obj: RedactionPolicy, form: Any, change: bool) -> None:
        # Through the service, so the collection's documents are processed again under the new policy.
        rules = {t: form.cleaned_data[t] for t in ENTITY_TYPES}
        redaction_policy_set(
            collection_id=obj.collection_id, rules=rules, user=request.user, actor=actor_for(request)
        )
        obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a policy would silently fall back to the default without re-processing the documents:
        # change it instead (the service re-ingests under the new one).
        return False


class ApiKeyCreateForm(forms.ModelForm):
    collection_choices: forms.ModelMultipleChoiceField[Any] = forms.ModelMultipleChoiceField(
        queryset=Collection.objects.order_by("name"), label="Collections"
    )
    action_choices = forms.MultipleChoiceField(
        choices=[(a.value, a.value) for a in ApiKey.Action],
        widget=forms.CheckboxSelectMultiple,
        label="Actions",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "rate", "expires_at"]

    def clean_rate(self) -> str:
        rate = str(self.cleaned_data.get("rate") or "120/min")
        if not re.fullmatch(r"\d+/(s|sec|m|min|h|hour|d|day)", rate):
            raise forms.ValidationError("A rate like 120/min, 10/s or 5000/day.")
        return rate


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Create (the secret is shown once, in a message), list and revoke. Keys are never edited: revoke and
    create a new one."""

    list_display = [
        "name",
        "prefix",
        "actions",
        "rate",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_by",
    ]
    actions = ["revoke"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [f.name for f in ApiKey._meta.fields] + ["collections"]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        # Without the admin's own transaction around the view: api_key_create owns its transactions, and a
        # refusal's audit event must survive the 403 (inside the admin's transaction it would be rolled back).
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return
        try:
            key, secret = api_key_create(
                name=form.cleaned_data["name"],
                collection_ids=[c.pk for c in form.cleaned_data["collection_choices"]],
                actions=form.cleaned_data["action_choices"],
                expires_at=form.cleaned_data.get("expires_at"),
                rate=form.cleaned_data.get("rate") or "120/min",
                created_by=request.user,
                actor=actor_for(request),
            )
        except ApiKeyRefused as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.pk = key.pk
        messages.warning(request, f"The key for {key.name} (shown once, store it now): {secret}")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the service set the collections

    @admin.action(description="Revoke the selected keys (effective on their next request)")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key, actor=actor_for(request))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the audit trail refers to keys by id


class ProcessingRecordForm(forms.ModelForm):
    class Meta:
        model = ProcessingRecord
        fields = [
            "collection", "purpose", "legal_basis", "data_subject_categories", "data_categories", "recipients",
            "retention_days", "special_categories", "erasure_scope",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            inventory_clean({name: data[name] for name in FIELDS if name in data})
        except InventoryError as exc:
            for name, message in exc.errors.items():
                self.add_error(name if name in self.fields else None, message)
        return data


@admin.register(ProcessingRecord)
class ProcessingRecordAdmin(admin.ModelAdmin):
    """The records-of-processing entries. Saving goes through ``inventory_set``: validated and audited."""

    form = ProcessingRecordForm
    list_display = ["collection", "legal_basis", "retention_days", "special_categories", "updated_at"]
    list_filter = ["legal_basis", "special_categories"]
    readonly_fields = ["updated_by", "created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: ProcessingRecord, form: Any, change: bool) -> None:
        inventory_set(
            collection_id=obj.collection_id,
            data={name: getattr(obj, name) for name in FIELDS},
            actor=actor_for(request),
            user=request.user,
        )
        obj.pk = ProcessingRecord.objects.get(
            collection_id=obj.collection_id
        ).pk  # for the admin's log and redirect

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a collection without an entry takes no uploads; edit it instead


@admin.register(SubjectRequest)
class SubjectRequestAdmin(ReadOnlyAdmin):
    """Read-only: requests are handled on the compliance pages (and the sealed identifiers never shown)."""

    list_display = ["id", "kind", "status", "due_at", "requested_by", "approved_by", "completed_at"]
    list_filter = ["kind", "status"]
    exclude = ["sealed_identifiers", "result"]


@admin.register(DestructionRecord)
class DestructionRecordAdmin(ReadOnlyAdmin):
    list_display = ["destroyed_at", "reason", "document_id", "collection_id", "chunks", "keep_until"]
    list_filter = ["reason"]


# --- users, groups and personal tokens ------------------------------------------------------------------

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's user admin, with every role change (staff, superuser, active, groups, permissions), a new
    account, a password set and a deletion going through governance.users, which audits them. Nobody
    changes their own role."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("groups")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = actor_for(request)
        if not change:
            super().save_model(request, obj, form, change)  # the add form: a name and a password only
            user_created(user=obj, actor=actor)
            return
        wanted = {flag: getattr(obj, flag) for flag in ROLE_FIELDS}
        stored = type(obj).objects.get(pk=obj.pk)
        for flag in ROLE_FIELDS:  # the other fields (names, e-mail) are saved as they are; the roles below
            setattr(obj, flag, getattr(stored, flag))
        super().save_model(request, obj, form, change)
        user_profile_changed(user=obj, fields=set(form.changed_data) & PROFILE_FIELDS, actor=actor)
        try:
            user_roles_set(user=obj, actor=actor, **wanted)
        except RoleChangeRefused as exc:
            messages.error(request, str(exc))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Not form.save_m2m(): groups and permissions go through the audited services.
        actor = actor_for(request)
        try:
            if "groups" in form.cleaned_data:
                user_groups_set(user=form.instance, groups=form.cleaned_data["groups"], actor=actor)
            if "user_permissions" in form.cleaned_data:
                user_permissions_set(
                    user=form.instance, permissions=form.cleaned_data["user_permissions"], actor=actor
                )
        except RoleChangeRefused as exc:
            messages.error(request, str(exc))
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        user_delete(user=obj, actor=actor_for(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for user in queryset:
            user_delete(user=user, actor=actor_for(request))

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        before = User.objects.filter(pk=id).values_list("password", flat=True).first()
        response = super().user_change_password(request, id, form_url)
        user = User.objects.filter(pk=id).first()
        if user is not None and user.password != before:
            user_password_changed(user=user, actor=actor_for(request))
        return response


class GroupForm(forms.ModelForm):
    """A group's name, permissions and members (membership is editable from the group too)."""

    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(api_key__isnull=True).order_by("username"),
        required=False,
        widget=FilteredSelectMultiple("users", is_stacked=False),
    )

    class Meta:
        model = Group
        fields = ["name", "permissions", "members"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["members"].initial = list(self.instance.user_set.values_list("pk", flat=True))

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        before = self.initial.get("name") if self.instance.pk else None
        if before is not None and before != name and COMPLIANCE_GROUP in (before, name):
            raise forms.ValidationError(f"The group {COMPLIANCE_GROUP!r} is a role: it cannot be renamed.")
        return name


@admin.register(Group)
class GroupAdmin(auth_admin.GroupAdmin):
    """Groups through governance.users: a rename, a permission and each member joining or leaving are
    audited (joining "Compliance officers" as a role change)."""

    form = GroupForm

    def save_model(self, request: HttpRequest, obj: Group, form: Any, change: bool) -> None:
        group_save(group=obj, name=form.cleaned_data["name"], actor=actor_for(request))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        actor = actor_for(request)
        group = form.instance
        try:
            group_permissions_set(group=group, permissions=form.cleaned_data["permissions"], actor=actor)
            group_members_set(group=group, users=form.cleaned_data["members"], actor=actor)
        except RoleChangeRefused as exc:
            messages.error(request, str(exc))
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Group) -> None:
        group_delete(group=obj, actor=actor_for(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Group]) -> None:
        for group in queryset:
            group_delete(group=group, actor=actor_for(request))


@admin.register(PersonalToken)
class PersonalTokenAdmin(admin.ModelAdmin):
    """Everybody's personal tokens, without their secrets (only hashes are stored): list and revoke. Tokens
    are made by their owners (the API, manage.py drf_create_token), never here."""

    list_display = ["prefix", "user", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "user__username"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in PersonalToken._meta.fields if f.name != "key_hash"]

    @admin.action(description="Revoke the selected tokens (effective on their next request)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[PersonalToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            personal_token_revoke(token=token, actor=actor_for(request), by=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the audit trail refers to tokens by id
