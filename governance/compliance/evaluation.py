"""Prompt & validate: evaluation sets of a collection, run against the current model and settings.

    evaluation_set_create / evaluation_set_import (JSONL or CSV) / evaluation_set_from_feedback (👎 answers)
    evaluation_run_create (queued) → evaluation_run_execute (the Celery task, or ``manage.py evaluate``)
    evaluation_compare.evaluation_compare (per-question and total deltas of two runs)
    (editing questions, sets from the answer log, requeueing: governance.compliance.evaluation_upkeep)

Each question is asked as the running user through the same governed path as ``/ask`` (``answer_prepare`` then
``answer_stream``): the question is redacted like any other, the search applies the access rule in SQL, the
answer, its citations and an ``ask`` event are stored. Measured per question: retrieval recall@k and reciprocal
rank of the expected documents among the answer's sources (k = ANSWER_SOURCES), whether a cited passage and the
answer contain the expected fact (case- and diacritic-insensitive), a correct not-found on questions that are
not in the documents, time to first token, total time and tokens.

A run passes when no question failed and every measured rate (recall@k, cited passage holds the fact, answer
holds the fact, correct not-found) is at least MODEL_SWITCH_MIN_PCT percent. A completed run is recorded on the
registered model it ran on (inference.registry.model_evaluated): with MODEL_SWITCH_REQUIRES_EVAL naming the set,
the serving gate lets that model answer users only after such a pass. The questions go to the model with
``purpose="evaluation"``, which the gate exempts from that requirement (never from the licence verdict).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import unicodedata
from dataclasses import dataclass
from statistics import mean
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.audit import SYSTEM, Actor, audit_record
from governance.models import EvaluationItem, EvaluationResult, EvaluationRun, EvaluationSet
from governance.roles import is_admin
from inference import embeddings, llm
from inference.model_evaluations import model_evaluated
from rag.selectors.access import readable_collections
from rag.selectors.feedback import answers_rated_down, collection_exists
from rag.services.answers import PromptTooLong, answer_prepare, answer_stream, cited_numbers

MAX_ITEMS = 1000
FROM_ANSWERS = (EvaluationItem.Source.FEEDBACK, EvaluationItem.Source.ANSWER_LOG)


class EvaluationError(ValueError):
    pass


# --- sets -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    question: str
    expected_document_ids: list[int]
    expected_fact: str = ""
    not_in_documents: bool = False


def item_spec(raw: dict[str, Any], n: int) -> ItemSpec:
    if not isinstance(raw, dict):
        raise EvaluationError(f"item {n}: an object")
    question = str(raw.get("question") or "").strip()
    if not question:
        raise EvaluationError(f"item {n}: a question")
    ids = raw.get("expected_document_ids") or []
    if isinstance(ids, str):
        ids = [part for part in re.split(r"[\s,;]+", ids) if part]
    try:
        document_ids = [int(i) for i in ids]
    except (TypeError, ValueError, OverflowError) as exc:
        raise EvaluationError(f"item {n}: expected_document_ids are document ids") from exc
    if any(not 0 < i < 2**63 for i in document_ids) or len(document_ids) > 100:
        raise EvaluationError(f"item {n}: expected_document_ids are up to 100 document ids")
    not_in = raw.get("not_in_documents", False)
    if isinstance(not_in, str):
        not_in = not_in.strip().lower() in {"1", "true", "yes", "y"}
    fact = str(raw.get("expected_fact") or "").strip()
    if "\x00" in question or "\x00" in fact:
        raise EvaluationError(f"item {n}: a NUL character")
    if len(question) > 4000 or len(fact) > 2000:
        raise EvaluationError(f"item {n}: a question up to 4,000 characters, a fact up to 2,000")
    if not_in and (document_ids or fact):
        raise EvaluationError(f"item {n}: a question not in the documents has no expected documents or fact")
    return ItemSpec(question, document_ids, fact, bool(not_in))


def evaluation_collection_visible(user: Any, collection_id: int) -> bool:
    """Whether ``user`` may build sets from, and read the questions of, this collection: administrators (who
    manage the models) every collection, compliance officers those they can read."""
    return is_admin(user) or readable_collections(user).filter(pk=collection_id).exists()


def evaluation_set_create(
    *,
    collection_id: int,
    name: str,
    items: list[dict[str, Any]],
    actor: Actor = SYSTEM,
    user: Any = None,
    source: str = EvaluationItem.Source.MANUAL,
) -> EvaluationSet:
    if not collection_exists(collection_id=collection_id):
        raise EvaluationError("no such collection")
    if not 0 < len(items) <= MAX_ITEMS:
        raise EvaluationError(f"1 to {MAX_ITEMS} items")
    specs = [item_spec(raw, n) for n, raw in enumerate(items, start=1)]
    with transaction.atomic():
        evaluation_set = EvaluationSet.objects.create(
            collection_id=collection_id, name=name.strip()[:200] or "evaluation", created_by=user
        )
        EvaluationItem.objects.bulk_create(
            EvaluationItem(
                evaluation_set=evaluation_set,
                question=spec.question,
                expected_document_ids=spec.expected_document_ids,
                expected_fact=spec.expected_fact,
                not_in_documents=spec.not_in_documents,
                source=source,
                # Only sets built from answers (👎 feedback, the answer log) point back at one; never user input.
                source_answer_id=raw.get("source_answer_id") if source in FROM_ANSWERS else None,
            )
            for spec, raw in zip(specs, items, strict=True)
        )
        audit_record(
            action="evaluation.set_create",
            actor=actor,
            target_type="evaluation_set",
            target_id=evaluation_set.pk,
            details={"collection": collection_id, "items": len(specs), "source": str(source)},
        )
    return evaluation_set


def evaluation_items_parse(data: bytes, *, filename: str = "") -> list[dict[str, Any]]:
    """JSONL (one object per line) or CSV (a header with question, expected_document_ids — ids separated by
    spaces, commas or semicolons — expected_fact, not_in_documents)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvaluationError("UTF-8 text") from exc
    if filename.lower().endswith(".csv") or (not filename.lower().endswith(".jsonl") and "{" not in text[:1]):
        try:
            return [dict(row) for row in csv.DictReader(io.StringIO(text))]
        except csv.Error as exc:
            raise EvaluationError(f"not readable as CSV: {exc}") from exc
    items = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise EvaluationError(f"line {n}: not JSON") from exc
    return items


def evaluation_set_import(
    *, file: Any, collection_id: int, name: str, actor: Actor = SYSTEM, user: Any = None
) -> EvaluationSet:
    items = evaluation_items_parse(file.read(), filename=getattr(file, "name", "") or "")
    return evaluation_set_create(
        collection_id=collection_id,
        name=name,
        items=items,
        actor=actor,
        user=user,
        source=EvaluationItem.Source.IMPORT,
    )


def evaluation_set_from_feedback(
    *, collection_id: int, actor: Actor = SYSTEM, user: Any = None, name: str = ""
) -> EvaluationSet:
    """Questions whose answers were rated 👎: what users found wrong becomes what the next model must get
    right. The expected documents and fact are for the officer to add; until then retrieval and the fact are
    not measured for them."""
    if user is not None and not evaluation_collection_visible(user, collection_id):
        raise EvaluationError("you cannot read this collection")
    answers = answers_rated_down(collection_id=collection_id)
    if not answers:
        raise EvaluationError("no 👎 answers for this collection")
    items = [{"question": answer.question, "source_answer_id": answer.pk} for answer in answers[:MAX_ITEMS]]
    return evaluation_set_create(
        collection_id=collection_id,
        name=name or f"👎 feedback {timezone.now():%Y-%m-%d}",
        items=items,
        actor=actor,
        user=user,
        source=EvaluationItem.Source.FEEDBACK,
    )


# --- metrics ----------------------------------------------------------------------------------------------


def normalized(text: str) -> str:
    """Case- and diacritic-insensitive, whitespace collapsed: "Aydın" matches "AYDIN" and "aydin"."""
    text = text.replace("ı", "i").replace("İ", "I")
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())


def contains_fact(text: str, fact: str) -> bool:
    return bool(fact) and normalized(fact) in normalized(text)


def retrieval_metrics(retrieved: list[int], expected: list[int]) -> tuple[float | None, float | None]:
    """recall@k (the share of expected documents among the k retrieved) and the reciprocal rank of the first
    expected document (0 when none came back); None when no document was expected."""
    if not expected:
        return None, None
    ranked = list(dict.fromkeys(retrieved))  # a document once, at its best rank
    found = set(ranked) & set(expected)
    rank = next((i for i, doc in enumerate(ranked, start=1) if doc in expected), None)
    return len(found) / len(set(expected)), (1.0 / rank if rank else 0.0)


# --- runs -------------------------------------------------------------------------------------------------


def settings_snapshot() -> dict[str, Any]:
    return {
        "LLM_MODEL": settings.LLM_MODEL,
        "ANSWER_SOURCES": settings.ANSWER_SOURCES,
        "ANSWER_MAX_TOKENS": settings.ANSWER_MAX_TOKENS,
        "ANSWER_MIN_SIMILARITY": settings.ANSWER_MIN_SIMILARITY,
        "EMBEDDING_MODEL": embeddings.active_key(),
    }


def evaluation_run_create(*, set_id: int, user: Any, run_as: Any, actor: Actor = SYSTEM) -> EvaluationRun:
    """A queued run of the set, asked as ``run_as``. Audits ``evaluation.run_queue``."""
    evaluation_set = EvaluationSet.objects.get(pk=set_id)
    with transaction.atomic():
        run = EvaluationRun.objects.create(
            evaluation_set=evaluation_set,
            model=settings.LLM_MODEL,
            settings_snapshot=settings_snapshot(),
            created_by=user,
            run_as=run_as,
        )
        audit_record(
            action="evaluation.run_queue",
            actor=actor,
            target_type="evaluation_run",
            target_id=run.pk,
            details={"set": set_id, "run_as": getattr(run_as, "pk", None)},
        )
    return run


def _evaluate_item(
    item: EvaluationItem, *, run: EvaluationRun, actor: Actor, served: list[tuple[str, str]]
) -> EvaluationResult:
    """One question through the governed answer path. ``served`` collects the model the gate saw: its served
    name and the weights the server loaded behind it."""
    result = EvaluationResult(run=run, item=item)
    started = time.monotonic()
    try:
        prepared = answer_prepare(
            user=run.run_as,
            question=item.question,
            collection_ids=[run.evaluation_set.collection_id],
            actor=actor,
            purpose="evaluation",
        )
        text: list[str] = []
        done: dict[str, Any] = {}
        for event in answer_stream(prepared=prepared):
            if event.event == "token":
                if result.ttft_ms is None and not prepared.not_found:
                    result.ttft_ms = int((time.monotonic() - started) * 1000)
                text.append(event.data["text"])
            elif event.event == "done":
                done = event.data
            elif event.event == "error":
                result.error = str(event.data.get("detail", ""))[:500]
    except (llm.InferenceUnavailable, PromptTooLong) as exc:
        result.error = str(exc)[:500] or type(exc).__name__
        result.total_ms = int((time.monotonic() - started) * 1000)
        return result
    if prepared.model_gate and prepared.model_gate.get("served_name"):
        served.append((str(prepared.model_gate["served_name"]), str(prepared.model_gate.get("root") or "")))
    answer_text = "".join(text)
    result.total_ms = int((time.monotonic() - started) * 1000)
    result.answer_id = done.get("answer_id")
    usage = done.get("usage") or {}
    result.prompt_tokens = usage.get("prompt_tokens") or 0
    result.completion_tokens = usage.get("completion_tokens") or 0
    result.not_found = prepared.not_found
    result.retrieved_document_ids = [source.document_id for source in prepared.sources]
    result.recall_at_k, result.reciprocal_rank = retrieval_metrics(
        result.retrieved_document_ids, list(item.expected_document_ids)
    )
    if item.not_in_documents:
        result.correct_not_found = prepared.not_found
    if item.expected_fact:
        cited = cited_numbers(answer_text)
        result.citation_has_fact = any(
            contains_fact(source.text, item.expected_fact) for source in prepared.sources if source.n in cited
        )
        result.answer_has_fact = contains_fact(answer_text, item.expected_fact)
    return result


def _rate(values: list[bool | None]) -> float | None:
    measured = [v for v in values if v is not None]
    return round(sum(measured) / len(measured), 4) if measured else None


def _mean(values: list[float | int | None]) -> float | None:
    measured = [v for v in values if v is not None]
    return round(mean(measured), 4) if measured else None


def run_totals(results: list[EvaluationResult]) -> dict[str, Any]:
    return {
        "items": len(results),
        "errors": sum(1 for r in results if r.error),
        "recall_at_k": _mean([r.recall_at_k for r in results]),
        "mrr": _mean([r.reciprocal_rank for r in results]),
        "citation_has_fact": _rate([r.citation_has_fact for r in results]),
        "answer_has_fact": _rate([r.answer_has_fact for r in results]),
        "correct_not_found": _rate([r.correct_not_found for r in results]),
        "ttft_ms": _mean([r.ttft_ms for r in results]),
        "total_ms": _mean([r.total_ms for r in results]),
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
    }


PASS_RATES = ("recall_at_k", "citation_has_fact", "answer_has_fact", "correct_not_found")


def run_passes(totals: dict[str, Any], *, min_pct: int | None = None) -> tuple[bool, list[str]]:
    """Whether a run's totals pass: no question failed, at least one rate measured, every measured rate at
    least ``min_pct`` percent (MODEL_SWITCH_MIN_PCT). Returns (passed, what fell short)."""
    floor = (settings.MODEL_SWITCH_MIN_PCT if min_pct is None else min_pct) / 100
    failures = []
    if totals.get("errors"):
        failures.append(f"{totals['errors']} question(s) failed")
    for name in PASS_RATES:
        value = totals.get(name)
        if value is not None and value < floor:
            failures.append(f"{name} {value:.2f} < {floor:.2f}")
    if not totals.get("items"):
        failures.append("the set has no questions")
    elif all(totals.get(name) is None for name in PASS_RATES):
        failures.append("nothing was measured: give the questions expected documents, facts or not-found")
    return not failures, failures


def _fail(run: EvaluationRun, *, error: str, kind: str, actor: Actor) -> EvaluationRun:
    """The run failed: the reason on the run (shown to those who may read the set), only its kind in the audit
    trail (an exception's message may quote a question)."""
    run.status, run.error, run.finished_at = EvaluationRun.Status.FAILED, error[:500], timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    audit_record(
        action="evaluation.run",
        actor=actor,
        outcome="failed",
        target_type="evaluation_run",
        target_id=run.pk,
        details={"set": run.evaluation_set_id, "error": kind},
    )
    return run


def _beat(run_id: int, mine: Any) -> Any:
    """Renew the claim (heartbeat). None when the run is no longer this worker's: its lease ran out and
    evaluation_runs_requeue gave it to another worker."""
    now = timezone.now()
    renewed = EvaluationRun.objects.filter(
        pk=run_id, status=EvaluationRun.Status.RUNNING, heartbeat_at=mine
    ).update(heartbeat_at=now)
    return now if renewed else None


def evaluation_run_execute(*, run_id: int, actor: Actor = SYSTEM) -> EvaluationRun | None:
    """Run every question of the set. Idempotent for the queue: the run is claimed atomically (queued →
    running), so a redelivered task returns. The worker renews its claim (``heartbeat_at``) after each
    question; a run whose worker died stops beating, and after EVALUATION_RUN_LEASE_S
    evaluation_upkeep.evaluation_runs_requeue queues it again — a worker that lost its claim stops, and only the
    claim's holder may complete the run. Results are written only at completion, so a run started again leaves
    no partial results. An unexpected error fails the run with the reason (audited), not left running."""
    claimed = timezone.now()
    if not EvaluationRun.objects.filter(pk=run_id, status=EvaluationRun.Status.QUEUED).update(
        status=EvaluationRun.Status.RUNNING, started_at=claimed, heartbeat_at=claimed
    ):
        return None
    run = EvaluationRun.objects.select_related("evaluation_set", "run_as").get(pk=run_id)
    if run.run_as is None:
        return _fail(run, error="no user to run as", kind="no user to run as", actor=actor)
    # No transaction across the model calls: each answer is stored by the answer path as it comes.
    served: list[tuple[str, str]] = []
    results: list[EvaluationResult] = []
    beat: Any = claimed
    try:
        for item in run.evaluation_set.items.all():
            results.append(_evaluate_item(item, run=run, actor=actor, served=served))
            beat = _beat(run.pk, beat)
            if beat is None:
                return None
    except Exception as exc:  # noqa: BLE001 - whatever broke, the run says so instead of staying "running"
        return _fail(run, error=f"{type(exc).__name__}: {exc}", kind=type(exc).__name__, actor=actor)
    with transaction.atomic():
        owned = EvaluationRun.objects.select_for_update().filter(
            pk=run.pk, status=EvaluationRun.Status.RUNNING, heartbeat_at=beat
        )
        if not owned.exists():
            return None
        EvaluationResult.objects.bulk_create(results)
        totals = run_totals(results)
        passed, failures = run_passes(totals)
        run.totals = {**totals, "passed": passed, "failures": failures}
        run.status = EvaluationRun.Status.COMPLETE
        run.finished_at = timezone.now()
        run.model = served[-1][0] if served else settings.LLM_MODEL
        run.save(update_fields=["totals", "status", "finished_at", "model"])
        audit_record(
            action="evaluation.run",
            actor=actor,
            target_type="evaluation_run",
            target_id=run.pk,
            details={
                "set": run.evaluation_set_id,
                "collection": run.evaluation_set.collection_id,
                "run_as": run.run_as_id,
                "model": run.model,
                "items": len(results),
                "errors": run.totals["errors"],
                "not_found": sum(1 for r in results if r.not_found),
                "passed": passed,
            },
        )
        # A pass is recorded on the model that answered: some question reached it, and always the same one.
        if len(set(served)) == 1:
            model_evaluated(
                served_name=run.model,
                root=served[0][1],
                set_id=run.evaluation_set_id,
                run_id=run.pk,
                passed=passed,
                failures=failures,
                actor=actor,
            )
    return run


def evaluation_run(
    *, set_id: int, actor: Actor = SYSTEM, user: Any = None, run_as: Any = None
) -> EvaluationRun:
    """Create and execute a run in this process (``manage.py evaluate``)."""
    run = evaluation_run_create(set_id=set_id, user=user, run_as=run_as or user, actor=actor)
    executed = evaluation_run_execute(run_id=run.pk, actor=actor)
    assert executed is not None  # noqa: S101 — just created as queued
    return executed
