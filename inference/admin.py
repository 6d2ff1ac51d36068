"""The admin of the model registry. Registration and the declared use go through the audited services
(inference.registry); a registered model's facts, manifest and verdict are read-only here. The licence
catalogue is code (inference.licences.CATALOGUE): editing it in the admin is not built yet."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from governance.audit import actor_for
from inference.licences import DeclaredUse
from inference.models import DeclaredUseRecord, RegisteredModel
from inference.registry import RegistryError, declared_use_set, model_register

USE_FIELDS = [f.name for f in fields(DeclaredUse)]


class RegisterForm(forms.ModelForm):
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
