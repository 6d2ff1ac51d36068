"""The serving gate: Emanet answers only with a model that is registered and whose licence verdict for the
declared use is not *blocked*.

The gate asks the model server what it serves (``GET /v1/models``, with vLLM's ``max_model_len``) and matches
the served name Emanet will call (LLM_MODEL, or the server's only model when LLM_MODEL is empty) to the
registry. The server's answer is cached per process for MODEL_GATE_CACHE_S (so not every question calls
/v1/models); the registry lookup is not cached (one indexed query), so a registration or a change of the
declared use applies to the next question.

With MODEL_SWITCH_REQUIRES_EVAL naming an evaluation set, a registered and allowed model must also have passed
a run of that set (inference.registry.model_evaluated); evaluation runs themselves are exempt
(``purpose="evaluation"``), so a candidate model can be evaluated before it may answer users.

MODEL_GATE=enforce refuses (ModelRefused, an InferenceUnavailable: the API answers 503 with the reason);
MODEL_GATE=warn lets the answer through and records the decision, flagged, in the answer's provenance.
A primitive: imports no rag."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from governance.audit import SYSTEM, Actor, audit_record
from inference import llm
from inference.registry import model_for_served_name

MODES = ("enforce", "warn")
PURPOSES = ("answer", "evaluation")


@dataclass(frozen=True)
class GateDecision:
    mode: str
    served_name: str
    allowed: bool
    reason: str
    registered_model_id: int | None = None
    verdict_status: str = "unregistered"
    verdict_conditions: tuple[str, ...] = ()
    max_model_len: int | None = None
    # MODEL_SWITCH_REQUIRES_EVAL: "not required", "passed", "not passed", or "exempt" (an evaluation run)
    evaluation: str = "not required"
    # What the server loaded behind the served name (vLLM's "root"): a change under the same name is a model
    # switch — the beat's recheck audits it, and an evaluation pass on other weights no longer counts.
    root: str = ""
    licence: str = ""  # the registered model's licence (a key of the catalogue) the verdict was given for

    @property
    def flagged(self) -> bool:
        """Answering although the gate would refuse (warn mode)."""
        return not self.allowed and self.mode == "warn"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict_conditions": list(self.verdict_conditions), "flagged": self.flagged}

    def provenance(self) -> dict[str, Any]:
        """What an answer records: the registry entry and the verdict it was given under."""
        return {
            "served_name": self.served_name,
            "registered_model_id": self.registered_model_id,
            "licence": self.licence,
            "verdict": self.verdict_status,
            "allowed": self.allowed,
            "mode": self.mode,
            "flagged": self.flagged,
            "evaluation": self.evaluation,
            "root": self.root,
        }


class ModelRefused(llm.InferenceUnavailable):
    """The gate refused the served model (enforce mode). The message is the reason."""

    def __init__(self, decision: GateDecision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


_served_cache: dict[str, tuple[float, list[llm.ServedModel]]] = {}
_cache_lock = threading.Lock()


def _served(*, fresh: bool) -> list[llm.ServedModel]:
    key = str(settings.LLM_BASE_URL)
    now = time.monotonic()
    with _cache_lock:
        cached = _served_cache.get(key)
    if cached is not None and not fresh and now - cached[0] < settings.MODEL_GATE_CACHE_S:
        return cached[1]
    served = llm.served_models()  # raises InferenceUnavailable: not cached, the next question asks again
    with _cache_lock:
        _served_cache[key] = (now, served)
    return served


def cache_clear() -> None:
    with _cache_lock:
        _served_cache.clear()


def _evaluation_requirement(entry: Any, purpose: str, root: str) -> tuple[str, str]:
    """(state, reason to refuse or ""). MODEL_SWITCH_REQUIRES_EVAL names the set a model must have passed."""
    required = settings.MODEL_SWITCH_REQUIRES_EVAL
    if not required:
        return "not required", ""
    if purpose == "evaluation":
        return "exempt", ""
    record = (entry.evaluations or {}).get(str(required))
    if record and record.get("passed") and record.get("root", "") == root:
        return "passed", ""
    if record and record.get("passed"):
        last = f"run {record.get('run')} passed on other weights ({record.get('root')!r}, now {root!r})"
    elif record:
        last = f"run {record.get('run')} failed: " + "; ".join(record.get("failures") or [])
    else:
        last = "it has no run of that set"
    return "not passed", (
        f"MODEL_SWITCH_REQUIRES_EVAL: {entry.served_name!r} must pass evaluation set {required} before it "
        f"answers ({last})"
    )


def gate_check(*, model: str | None = None, fresh: bool = False, purpose: str = "answer") -> GateDecision:
    """The gate's decision for the model Emanet calls (``model``, default LLM_MODEL) for ``purpose`` (answering
    users, or an evaluation run). Raises InferenceUnavailable when the model server cannot be asked."""
    mode = settings.MODEL_GATE
    wanted = settings.LLM_MODEL if model is None else model
    served = _served(fresh=fresh)
    names = [item.id for item in served]
    if not wanted:
        if len(served) != 1:
            return GateDecision(
                mode,
                "",
                False,
                f"LLM_MODEL is empty and the model server serves {len(served)} models: {names}",
            )
        wanted = served[0].id
    match = next((item for item in served if item.id == wanted), None)
    if match is None:
        return GateDecision(
            mode, wanted, False, f"the model server does not serve {wanted!r} (it serves {names})"
        )
    entry = model_for_served_name(wanted)
    if entry is None:
        return GateDecision(
            mode,
            wanted,
            False,
            f"the served model {wanted!r} is not in the model registry",
            None,
            "unregistered",
            (),
            match.max_model_len,
            root=match.root,
        )
    blocked = entry.verdict_status == entry.Verdict.BLOCKED
    evaluation, unevaluated = _evaluation_requirement(entry, purpose, match.root)
    if blocked:
        reason = (
            f"the licence verdict for {wanted!r} ({entry.licence_id}) is blocked for the declared use: "
            + "; ".join(entry.verdict_reasons)
        )
    else:
        reason = unevaluated or f"{wanted!r} is registered ({entry.licence_id}, {entry.verdict_status})"
    return GateDecision(
        mode,
        wanted,
        not blocked and not unevaluated,
        reason,
        entry.pk,
        entry.verdict_status,
        tuple(entry.verdict_conditions),
        match.max_model_len,
        evaluation,
        match.root,
        entry.licence_id,
    )


def gate_require(*, purpose: str = "answer") -> GateDecision:
    """The decision, or ModelRefused when MODEL_GATE=enforce and the model may not answer."""
    decision = gate_check(purpose=purpose)
    if not decision.allowed and decision.mode == "enforce":
        raise ModelRefused(decision)
    return decision


LAST_DECISION_KEY = "model-gate:last"


def gate_recheck(*, actor: Actor = SYSTEM) -> GateDecision:
    """Ask the server afresh (beat schedule, start-up). Audits ``model.gate`` (details: the decision) when the
    decision differs from the previous recheck's, so the trail shows each change of what is served and
    whether it may answer, not one event every ten minutes."""
    decision = gate_check(fresh=True)
    summary = decision.as_dict()
    if cache.get(LAST_DECISION_KEY) != summary:
        audit_record(
            action="model.gate",
            actor=actor,
            outcome="ok" if decision.allowed else "denied",
            target_type="registered_model",
            target_id=decision.registered_model_id or "",
            details=summary,
        )
        cache.set(LAST_DECISION_KEY, summary, timeout=None)
    return decision
