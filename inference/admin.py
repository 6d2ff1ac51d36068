"""The admin of the model registry. Registration, the declared use and the licence catalogue go through the
audited services (inference.registry); a registered model's facts, manifest and verdict are read-only here.
Editing a licence recomputes the verdict of every model under it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from governance.admin_base import ReadOnlyAdmin
from governance.audit import actor_for
from governance.models import EvaluationItem, EvaluationResult, EvaluationRun, EvaluationSet
from inference.hardware import FitError
from inference.licence_data import ENTRY_FIELDS, licence_from_values
from inference.licences import DeclaredUse
from inference.models import DeclaredUseRecord, LicenceEntry, RegisteredModel
from inference.registry import (
    RegistryError,
    declared_use_set,
    licence_catalogue,
    licence_delete,
    licence_modified,
    licence_reset,
    licence_store,
    model_register,
    model_unregister,
    registration_check,
)
from inference.weights import shape_of

USE_FIELDS = [f.name for f in fields(DeclaredUse)]


class RegisterForm(forms.ModelForm):
    licence_id = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["licence_id"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared above
        field.choices = sorted((key, f"{key}: {lic.title}") for key, lic in licence_catalogue().items())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                path = registration_check(
                    served_name=data.get("served_name", ""),
                    licence_id=data.get("licence_id", ""),
                    weights_path=data.get("weights_path", ""),
                )
                if path is not None:
                    shape_of(path)
            except (RegistryError, FitError) as exc:
                raise ValidationError(str(exc)) from exc
        return data

    class Meta:
        model = RegisteredModel
        fields = [
            "served_name",
            "licence_id",
            "family",
            "quantization",
            "weights_path",
            "weights_published",
            "code_published",
            "data_published",
        ]


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = [
        "served_name",
        "family",
        "licence_id",
        "verdict_status",
        "quantization",
        "verdict_computed_at",
    ]
    list_filter = ["verdict_status", "licence_id"]

    def view_on_site(self, obj: RegisteredModel) -> str:
        """ "View on site": the model's page in the portal's Models section, with its hardware fit."""
        return reverse("model-page", args=[obj.pk])

    search_fields = ["served_name", "family"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = RegisterForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return list(RegisterForm.Meta.fields)
        return [f.name for f in RegisteredModel._meta.fields if f.name != "id"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else [f.name for f in RegisteredModel._meta.fields]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # each removal goes through model_unregister, one by one
        return actions

    def delete_model(self, request: HttpRequest, obj: RegisteredModel) -> None:
        model_unregister(model=obj, actor=actor_for(request))

    def save_model(self, request: HttpRequest, obj: RegisteredModel, form: Any, change: bool) -> None:
        if change:
            return  # read-only: nothing to save
        data = form.cleaned_data
        try:
            created = model_register(
                served_name=data["served_name"],
                licence_id=data["licence_id"],
                weights_path=data["weights_path"],
                family=data["family"],
                quantization=data["quantization"],
                weights_published=data["weights_published"],
                code_published=data["code_published"],
                data_published=data["data_published"],
                created_by=request.user,
                actor=actor_for(request),
            )
        except RegistryError as exc:
            messages.error(request, str(exc))
            raise ValidationError(str(exc)) from exc
        obj.pk = created.pk


@admin.register(DeclaredUseRecord)
class DeclaredUseAdmin(admin.ModelAdmin):
    fields = tuple(USE_FIELDS)
    list_display = ["__str__", "internal_commercial_use", "monthly_active_users", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DeclaredUseRecord.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: DeclaredUseRecord, form: Any, change: bool) -> None:
        use = DeclaredUse(**{name: form.cleaned_data[name] for name in USE_FIELDS})
        record = declared_use_set(use=use, updated_by=request.user, actor=actor_for(request))
        obj.pk = record.pk


LICENCE_FIELDS = ["key", *ENTRY_FIELDS]


class LicenceForm(forms.ModelForm):
    class Meta:
        model = LicenceEntry
        fields = LICENCE_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                licence_from_values(str(data.get("key") or self.instance.pk), data)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
        return data


@admin.register(LicenceEntry)
class LicenceEntryAdmin(admin.ModelAdmin):
    """The licence catalogue as counsel keeps it: saving recomputes (and audits) the verdict of every model
    under the licence. Built-in licences cannot be deleted; the "reset" action puts back the shipped text."""

    form = LicenceForm
    list_display = [
        "key",
        "title",
        "commercial_use",
        "derivatives",
        "outputs_to_train_other_models",
        "builtin",
        "modified",
        "updated_at",
    ]
    list_filter = ["builtin", "commercial_use", "derivatives", "outputs_to_train_other_models"]
    search_fields = ["key", "title"]
    actions = ["reset_to_builtin"]

    @admin.display(boolean=True, description="edited since shipped")
    def modified(self, obj: LicenceEntry) -> bool:
        return licence_modified(obj.key)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["key"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Not a built-in licence (reset it instead), nor one a registered model is under."""
        if obj is None:
            return super().has_delete_permission(request, obj)
        in_use = RegisteredModel.objects.filter(licence_id=obj.key).exists()
        return super().has_delete_permission(request, obj) and not obj.builtin and not in_use

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # each delete goes through licence_delete, one by one
        return actions

    def save_model(self, request: HttpRequest, obj: LicenceEntry, form: Any, change: bool) -> None:
        data = form.cleaned_data
        key = obj.pk if change else data["key"]
        try:
            stored = licence_store(
                licence=licence_from_values(key, data),
                create=not change,
                updated_by=request.user,
                actor=actor_for(request),
            )
        except RegistryError as exc:
            messages.error(request, str(exc))
            raise ValidationError(str(exc)) from exc
        obj.pk = stored.pk

    def delete_model(self, request: HttpRequest, obj: LicenceEntry) -> None:
        try:
            licence_delete(key=obj.key, actor=actor_for(request))
        except RegistryError as exc:
            messages.error(request, str(exc))

    @admin.action(description="Reset the selected built-in licences to the text shipped with Emanet")
    def reset_to_builtin(self, request: HttpRequest, queryset: QuerySet[LicenceEntry]) -> None:
        for entry in queryset:
            try:
                licence_reset(key=entry.key, updated_by=request.user, actor=actor_for(request))
            except RegistryError as exc:
                messages.error(request, str(exc))


# --- evaluation sets and runs (governance.compliance.evaluation): read-only here ---------------------------


class EvaluationItemInline(admin.TabularInline):
    model = EvaluationItem
    fields = readonly_fields = (
        "question",
        "expected_document_ids",
        "expected_fact",
        "not_in_documents",
        "source",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EvaluationSet)
class EvaluationSetAdmin(ReadOnlyAdmin):
    """Read-only: sets are built, edited and run through the audited services (Models → Evaluation, the API,
    manage.py evaluate)."""

    list_display = ["id", "name", "collection", "created_by", "created_at"]
    inlines = [EvaluationItemInline]


class EvaluationResultInline(admin.TabularInline):
    model = EvaluationResult
    fields = readonly_fields = (
        "item",
        "recall_at_k",
        "reciprocal_rank",
        "citation_has_fact",
        "answer_has_fact",
        "correct_not_found",
        "ttft_ms",
        "total_ms",
        "error",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdmin):
    """Read-only: the runs and their per-question results; compared side by side on Models → Evaluation."""

    list_display = ["id", "evaluation_set", "model", "status", "passed", "created_at", "finished_at"]
    list_filter = ["status", "model"]
    inlines = [EvaluationResultInline]

    @admin.display(boolean=True, description="passed")
    def passed(self, obj: EvaluationRun) -> bool | None:
        value = (obj.totals or {}).get("passed")
        return value if isinstance(value, bool) else None
