"""Portal pages of the Models section, for administrators: the registry with licence verdicts, the serving
gate, the declared use and registration (/models/); one model's facts and hardware fit (/models/<id>/);
evaluation sets and runs (/models/evaluation/) and the comparison of two runs with charts.

Thin: every change goes through the same audited services as the API (inference.registry,
governance.compliance.evaluation, governance.tasks.evaluation_run_queue)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.audit import actor_for
from governance.roles import is_admin
from inference import llm
from inference.forms import DeclaredUseForm, FitForm, RegisterForm
from inference.gate import gate_check
from inference.hardware import QUANTIZATIONS, FitError, fit, kv_bytes_per_token
from inference.licences import CATALOGUE, DeclaredUse, verdict
from inference.models import RegisteredModel
from inference.registry import (
    RegistryError,
    declared_use_get,
    declared_use_set,
    licence_catalogue,
    licence_get,
    licence_modified,
    licence_review_needed,
    model_list,
    model_register,
    shape_for,
)

View = Callable[..., HttpResponse]


def admin_required(view: View) -> View:
    """Signed in (else the login page), then an administrator (else 403)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_admin(request.user):
            raise PermissionDenied(_("Only administrators may open the Models section."))
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def provenance_label(model: RegisteredModel) -> str:
    """Open source only when weights, code and training data are all published; open weights otherwise."""
    if model.open_source:
        return _("open source")
    if model.weights_published == "yes":
        return _("open weights")
    return _("weights not published")


VERDICT_LABELS: dict[str, Any] = {
    RegisteredModel.Verdict.ALLOWED: gettext_lazy("allowed"),
    RegisteredModel.Verdict.ALLOWED_WITH_CONDITIONS: gettext_lazy("allowed with conditions"),
    RegisteredModel.Verdict.BLOCKED: gettext_lazy("blocked"),
}


def _row(model: RegisteredModel) -> dict[str, Any]:
    licence = licence_get(model.licence_id)
    return {
        "model": model,
        "licence_title": licence.title if licence else model.licence_id,
        "verdict_label": VERDICT_LABELS.get(model.verdict_status, model.verdict_status),
        "provenance": provenance_label(model),
    }


def _gate() -> tuple[Any, str]:
    """The serving gate's decision now, or why it cannot be known (the model server is down)."""
    try:
        return gate_check(), ""
    except llm.InferenceUnavailable as exc:
        return None, str(exc) or type(exc).__name__


@admin_required
def models_index(request: HttpRequest) -> HttpResponse:
    use_form = DeclaredUseForm(initial=asdict(declared_use_get()))
    register_form = RegisterForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "declared_use":
            use_form = DeclaredUseForm(request.POST)
            if use_form.is_valid():
                declared_use_set(
                    use=DeclaredUse(**use_form.cleaned_data),
                    updated_by=request.user,
                    actor=actor_for(request),
                )
                messages.success(request, _("Declared use saved; every model's verdict was recomputed."))
                return redirect(reverse("models"))
        elif action == "register":
            register_form = RegisterForm(request.POST)
            if register_form.is_valid():
                values = register_form.cleaned_data
                try:
                    created = model_register(
                        served_name=values["served_name"],
                        licence_id=values["licence_id"],
                        family=values["family"],
                        quantization=values["quantization"],
                        weights_path=values["weights_path"],
                        weights_published=values["weights_published"],
                        code_published=values["code_published"],
                        data_published=values["data_published"],
                        facts=register_form.facts(),
                        created_by=request.user,
                        actor=actor_for(request),
                    )
                except RegistryError as exc:
                    register_form.add_error(None, str(exc))
                else:
                    messages.success(request, _("Registered %(name)s.") % {"name": created.served_name})
                    return redirect(reverse("model-page", args=[created.pk]))
        else:
            raise BadRequest(_("Unknown action."))
        status = 400
    decision, gate_error = _gate()
    use = declared_use_get()
    licences = [
        {
            "licence": licence,
            "verdict": verdict(licence, use),
            "builtin": key in CATALOGUE,
            "edited": licence_modified(key),
            "review": licence_review_needed(key),
        }
        for key, licence in sorted(licence_catalogue().items())
    ]
    context = {
        "licences": licences,
        "rows": [_row(model) for model in model_list()],
        "decision": decision,
        "gate_error": gate_error,
        "use_form": use_form,
        "register_form": register_form,
    }
    return render(request, "models/index.html", context, status=status)


@admin_required
def model_page(request: HttpRequest, model_id: int) -> HttpResponse:
    """One model: facts, weights manifest, verdict, and its hardware fit for the resources given (a GET form:
    it computes, nothing changes)."""
    model = RegisteredModel.objects.filter(pk=model_id).first()
    if model is None:
        raise Http404(_("No such registered model."))
    shape, shape_error = None, ""
    try:
        shape = shape_for(model)
    except FitError as exc:
        shape_error = str(exc)
    submitted = "quantization" in request.GET
    default_quantization = model.quantization if model.quantization in QUANTIZATIONS else "bf16"
    form = FitForm(
        request.GET if submitted else None,
        initial={
            "quantization": default_quantization,
            "context": min(model.context_length or 8192, 8192),
            "concurrency": 1,
            "gpus": "80",
            "gpu_memory_utilization": 0.9,
            "kv_cache_dtype": "auto",
        },
    )
    result, fit_error = None, ""
    if submitted and shape is not None and form.is_valid():
        values = form.cleaned_data
        try:
            result = fit(
                shape,
                quantization=values["quantization"],
                context=values["context"],
                concurrency=values["concurrency"],
                gpus_gib=values["gpus"] or None,
                cpu_ram_gib=values["cpu_ram_gib"],
                gpu_memory_utilization=values["gpu_memory_utilization"],
                kv_cache_dtype=values["kv_cache_dtype"],
                served_name=model.served_name,
            )
        except FitError as exc:
            fit_error = str(exc)
    context = {
        **_row(model),
        "licence": licence_get(model.licence_id),
        "evaluations": sorted(model.evaluations.items(), key=lambda pair: int(pair[0])),
        "switch_required": settings.MODEL_SWITCH_REQUIRES_EVAL,
        "switch_required_key": str(settings.MODEL_SWITCH_REQUIRES_EVAL),
        "shape_error": shape_error,
        "kv_bytes_per_token": kv_bytes_per_token(shape) if shape else None,
        "form": form,
        "result": result,
        "fit_error": fit_error,
        "quantization_labels": {key: q.label for key, q in QUANTIZATIONS.items()},
    }
    status = 400 if submitted and (form.errors or fit_error) else 200
    return render(request, "models/detail.html", context, status=status)
