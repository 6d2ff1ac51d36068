"""Portal pages of the Models section's evaluation, for administrators: evaluation sets and runs
(/models/evaluation/), and two runs side by side with charts (/models/evaluation/compare/<a>/<b>/).

Thin: sets are made by governance.compliance.evaluation's audited services, runs are queued exactly as the API
queues them (governance.tasks.evaluation_run_queue: asked as the requesting administrator), and the comparison is
evaluation_compare's."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.audit import actor_for
from governance.compliance.evaluation import (
    EvaluationError,
    evaluation_set_from_feedback,
    evaluation_set_import,
)
from governance.compliance.evaluation_compare import evaluation_compare
from governance.compliance.evaluation_upkeep import evaluation_set_from_answers
from governance.models import EvaluationItem, EvaluationRun, EvaluationSet
from governance.tasks import evaluation_run_queue
from inference.charts import paired_bars
from inference.forms import AnswerLogSetForm, CompareForm, EvaluationUploadForm, FeedbackSetForm
from inference.views import admin_required
from rag.selectors.lifecycle import collections_all

# The rates and means of a run's totals, in [0, 1]: one chart.
QUALITY = {
    "recall_at_k": gettext_lazy("Recall@k"),
    "mrr": gettext_lazy("MRR"),
    "citation_has_fact": gettext_lazy("Cited passage has the fact"),
    "answer_has_fact": gettext_lazy("Answer has the fact"),
    "correct_not_found": gettext_lazy("Correct “not found”"),
}
TOTALS = {
    "items": gettext_lazy("Questions"),
    "errors": gettext_lazy("Errors"),
    **QUALITY,
    "ttft_ms": gettext_lazy("Time to first token (ms, mean)"),
    "total_ms": gettext_lazy("Total time (ms, mean)"),
    "prompt_tokens": gettext_lazy("Prompt tokens"),
    "completion_tokens": gettext_lazy("Completion tokens"),
}
# Per question: (key in evaluation_compare's items, label).
PER_QUESTION = {
    "recall_at_k": gettext_lazy("Recall@k"),
    "reciprocal_rank": gettext_lazy("Reciprocal rank"),
    "citation_has_fact": gettext_lazy("Cited fact"),
    "answer_has_fact": gettext_lazy("Answer fact"),
    "correct_not_found": gettext_lazy("Not found correct"),
    "total_ms": gettext_lazy("Total ms"),
}
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


def _collections() -> list[tuple[int, str]]:
    return [(c.pk, f"{c.name} ({c.owner.get_username()})") for c in collections_all()]


@admin_required
def evaluation_index(request: HttpRequest) -> HttpResponse:
    collections = _collections()
    upload_form = EvaluationUploadForm(collections=collections)
    feedback_form = FeedbackSetForm(collections=collections)
    log_form = AnswerLogSetForm(collections=collections)
    status = 200
    if request.method == "POST":
        action, actor = request.POST.get("action"), actor_for(request)
        if action == "upload":
            upload_form = EvaluationUploadForm(request.POST, request.FILES, collections=collections)
            if upload_form.is_valid():
                file = upload_form.cleaned_data["file"]
                try:
                    if file.size > MAX_UPLOAD_BYTES:
                        raise EvaluationError(_("The file is larger than 5 MB."))
                    created = evaluation_set_import(
                        file=file,
                        collection_id=upload_form.cleaned_data["collection"],
                        name=upload_form.cleaned_data["name"],
                        actor=actor,
                        user=request.user,
                    )
                except EvaluationError as exc:
                    upload_form.add_error(None, str(exc))
                else:
                    messages.success(request, _("Evaluation set %(id)d created.") % {"id": created.pk})
                    return redirect(reverse("models-evaluation"))
        elif action == "feedback":
            feedback_form = FeedbackSetForm(request.POST, collections=collections)
            if feedback_form.is_valid():
                try:
                    created = evaluation_set_from_feedback(
                        collection_id=feedback_form.cleaned_data["collection"], actor=actor, user=request.user
                    )
                except EvaluationError as exc:
                    feedback_form.add_error(None, str(exc))
                else:
                    messages.success(request, _("Evaluation set %(id)d created.") % {"id": created.pk})
                    return redirect(reverse("models-evaluation"))
        elif action == "answer_log":
            log_form = AnswerLogSetForm(request.POST, collections=collections)
            if log_form.is_valid():
                try:
                    created = evaluation_set_from_answers(
                        collection_id=log_form.cleaned_data["collection"],
                        limit=log_form.cleaned_data["limit"],
                        actor=actor,
                        user=request.user,
                    )
                except EvaluationError as exc:
                    log_form.add_error(None, str(exc))
                else:
                    messages.success(request, _("Evaluation set %(id)d created.") % {"id": created.pk})
                    return redirect(reverse("models-evaluation"))
        elif action == "run":
            set_id = request.POST.get("set", "")
            if not set_id.isascii() or not set_id.isdigit() or len(set_id) > 18:
                raise BadRequest(_("No such evaluation set."))
            if not EvaluationSet.objects.filter(pk=int(set_id)).exists():
                raise Http404(_("No such evaluation set."))
            run = evaluation_run_queue(set_id=int(set_id), user=request.user, actor=actor)
            messages.success(
                request, _("Run %(id)d queued: the questions are asked as you.") % {"id": run.pk}
            )
            return redirect(reverse("models-evaluation"))
        else:
            raise BadRequest(_("Unknown action."))
        status = 400
    context = {
        "sets": EvaluationSet.objects.select_related("collection").annotate(item_count=Count("items"))[:200],
        "runs": EvaluationRun.objects.select_related("evaluation_set", "run_as")[:200],
        "upload_form": upload_form,
        "feedback_form": feedback_form,
        "log_form": log_form,
        "compare_form": CompareForm(),
        "quality": QUALITY,
    }
    return render(request, "models/evaluation.html", context, status=status)


@admin_required
def evaluation_compare_pick(request: HttpRequest) -> HttpResponse:
    form = CompareForm(request.GET)
    if not form.is_valid():
        raise BadRequest(_("Choose two runs to compare."))
    return redirect(reverse("models-compare", args=[form.cleaned_data["run_a"], form.cleaned_data["run_b"]]))


def _run(run_id: int) -> EvaluationRun:
    run = EvaluationRun.objects.select_related("evaluation_set").filter(pk=run_id).first()
    if run is None:
        raise Http404(_("No such evaluation run."))
    return run


def _rounded(value: Any) -> Any:
    """Totals as read: rates to 3 decimals, milliseconds and counts whole."""
    if isinstance(value, float):
        return round(value, 3) if abs(value) <= 1 else round(value)
    return value


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _cell(value: Any) -> Any:
    """A per-question value as shown: yes/no for the booleans, "–" for not measured."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return round(value, 3) if isinstance(value, float) else value


def totals_of(data: dict[str, Any], run: str, key: str) -> float | None:
    return _number(data[run]["totals"].get(key))


@admin_required
def evaluation_compare_page(request: HttpRequest, run_a: int, run_b: int) -> HttpResponse:
    a, b = _run(run_a), _run(run_b)
    data = evaluation_compare(run_a=a, run_b=b)
    questions = dict(
        EvaluationItem.objects.filter(pk__in=[item["item"] for item in data["items"]]).values_list(
            "pk", "question"
        )
    )
    settings_a, settings_b = data["a"]["settings"], data["b"]["settings"]
    settings_rows = [
        {"key": key, "a": settings_a.get(key), "b": settings_b.get(key)}
        for key in sorted(set(settings_a) | set(settings_b))
    ]
    totals = [
        {
            "key": key,
            "label": label,
            "a": _rounded(data["a"]["totals"].get(key)),
            "b": _rounded(data["b"]["totals"].get(key)),
            "delta": _rounded(data["totals_delta"].get(key)),
        }
        for key, label in TOTALS.items()
    ]
    rows: list[dict[str, Any]] = []
    for n, item in enumerate(data["items"], start=1):
        cells = [
            {"a": _cell(item["a"][key]), "b": _cell(item["b"][key]), "delta": item["delta"][key]}
            for key in PER_QUESTION
        ]
        rows.append({"n": n, "question": questions.get(item["item"], ""), "cells": cells})
    quality_chart = paired_bars(
        "quality",
        _("Quality, run A and run B (0 to 1)"),
        [
            (str(label), totals_of(data, "a", key), totals_of(data, "b", key))
            for key, label in QUALITY.items()
        ],
        maximum=1.0,
    )
    latency_chart = paired_bars(
        "latency",
        _("Total time per question, run A and run B (ms)"),
        [
            (
                f"{row['n']}. {row['question'][:24]}",
                _number(item["a"]["total_ms"]),
                _number(item["b"]["total_ms"]),
            )
            for row, item in zip(rows, data["items"], strict=True)
        ],
        digits=0,
    )
    context = {
        "a": a,
        "b": b,
        "data": data,
        "settings_rows": settings_rows,
        "totals": totals,
        "rows": rows,
        "per_question": list(PER_QUESTION.values()),
        "charts": [quality_chart, latency_chart],
    }
    return render(request, "models/compare.html", context)
