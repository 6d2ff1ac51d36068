"""Two evaluation runs side by side: per question (the items both runs share) and in total, B minus A."""

from __future__ import annotations

from typing import Any

from governance.models import EvaluationResult, EvaluationRun

# --- comparing --------------------------------------------------------------------------------------------

_COMPARED = (
    "recall_at_k",
    "reciprocal_rank",
    "citation_has_fact",
    "answer_has_fact",
    "correct_not_found",
    "ttft_ms",
    "total_ms",
    "prompt_tokens",
    "completion_tokens",
)


def _delta(a: Any, b: Any) -> float | None:
    """B minus A for numbers and booleans (as 0/1); None where either is missing or not a number."""
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return None
    return round(float(b) - float(a), 4)


def result_data(result: EvaluationResult) -> dict[str, Any]:
    return {
        "item": result.item_id,
        "answer_id": result.answer_id,
        "retrieved_document_ids": result.retrieved_document_ids,
        "not_found": result.not_found,
        "error": result.error,
        **{name: getattr(result, name) for name in _COMPARED},
    }


def evaluation_compare(*, run_a: EvaluationRun, run_b: EvaluationRun) -> dict[str, Any]:
    """B minus A, per question (the items the two runs share) and in total. Booleans count as 0/1."""
    a_results = {r.item_id: r for r in run_a.results.all()}
    items = []
    for b in run_b.results.all():
        a = a_results.get(b.item_id)
        if a is None:
            continue
        items.append(
            {
                "item": b.item_id,
                "a": result_data(a),
                "b": result_data(b),
                "delta": {name: _delta(getattr(a, name), getattr(b, name)) for name in _COMPARED},
            }
        )
    keys = sorted(key for key in set(run_a.totals) | set(run_b.totals) if key != "failures")
    return {
        "a": {
            "id": run_a.pk,
            "model": run_a.model,
            "settings": run_a.settings_snapshot,
            "totals": run_a.totals,
        },
        "b": {
            "id": run_b.pk,
            "model": run_b.model,
            "settings": run_b.settings_snapshot,
            "totals": run_b.totals,
        },
        "totals_delta": {key: _delta(run_a.totals.get(key), run_b.totals.get(key)) for key in keys},
        "items": items,
    }
