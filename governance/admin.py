from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from governance.audit import actor_for
from governance.models import CollectionGrant, RedactionPolicy
from governance.pii.policies import redaction_policy_set
from governance.pii.redaction import ENTITY_TYPES, Action, Policy


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
