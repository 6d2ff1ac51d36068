from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from governance.audit import actor_for
from governance.models import ApiKey, CollectionGrant, RedactionPolicy
from governance.pii.policies import redaction_policy_set
from governance.pii.redaction import ENTITY_TYPES, Action, Policy
from rag.models import Collection


@admin.register(CollectionGrant)
class CollectionGrantAdmin(admin.ModelAdmin):
    list_display = ["collection", "user", "group", "permission", "granted_by", "created_at"]
    list_filter = ["permission", "collection", "group"]
    readonly_fields = ["granted_by"]

    def save_model(self, request: HttpRequest, obj: CollectionGrant, form: Any, change: bool) -> None:
        from governance.audit import actor_for, audit_record

        obj.granted_by = request.user  # type: ignore[assignment]  # admin requests are authenticated
        super().save_model(request, obj, form, change)
        audit_record(
            action="grant.change" if change else "grant.create",
            actor=actor_for(request),
            target_type="grant",
            target_id=obj.pk,
            collection_id=obj.collection_id,
            details={"permission": obj.permission, "user_id": obj.user_id, "group_id": obj.group_id},
        )

    def delete_model(self, request: HttpRequest, obj: CollectionGrant) -> None:
        from governance.audit import actor_for, audit_record

        details = {"permission": obj.permission, "user_id": obj.user_id, "group_id": obj.group_id}
        grant_id, collection_id = obj.pk, obj.collection_id
        super().delete_model(request, obj)
        audit_record(
            action="grant.delete",
            actor=actor_for(request),
            target_type="grant",
            target_id=grant_id,
            collection_id=collection_id,
            details=details,
        )


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
        import re

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

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        from django.contrib import messages

        from governance.apikeys import api_key_create

        if change:
            return
        key, secret = api_key_create(
            name=form.cleaned_data["name"],
            collection_ids=[c.pk for c in form.cleaned_data["collection_choices"]],
            actions=form.cleaned_data["action_choices"],
            expires_at=form.cleaned_data.get("expires_at"),
            rate=form.cleaned_data.get("rate") or "120/min",
            created_by=request.user,
            actor=actor_for(request),
        )
        obj.pk = key.pk
        messages.warning(request, f"The key for {key.name} (shown once, store it now): {secret}")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the service set the collections

    @admin.action(description="Revoke the selected keys (effective on their next request)")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        from governance.apikeys import api_key_revoke

        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key, actor=actor_for(request))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the audit trail refers to keys by id
