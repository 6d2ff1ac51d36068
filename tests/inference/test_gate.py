"""The serving gate against the real bundled vLLM server: an unregistered or blocked served model is refused
(503 with the reason) under MODEL_GATE=enforce and flagged under warn; every answer's provenance carries the
registry entry and the verdict it was given under."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from governance.compliance import evaluation
from governance.models import AuditEvent
from inference import gate, local_server, registry
from inference.licences import DeclaredUse
from inference.local_server import MODEL_NAME
from inference.models import RegisteredModel
from inference.tasks import model_gate_check
from rag.models import Answer, Collection
from tests.rag.helpers import ingest_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

Client = Callable[[Any], APIClient]
FACT_DOC = b"Kestrel project handbook.\n\nThe launch code of the Kestrel project is BLUEFIN-4471.\n"
QUESTION = {"question": "What is the launch code of the Kestrel project?"}


@pytest.fixture
def kestrel(alice: Any, collection_a: Collection) -> Any:
    gate.cache_clear()
    return ingest_bytes(collection_a, alice, FACT_DOC, "kestrel.txt", title="Kestrel handbook")


def test_the_bundled_model_answers_out_of_the_box_and_provenance_carries_its_verdict(
    llm: str, kestrel: Any, alice: Any, client_for: Client
) -> None:
    response = client_for(alice).post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 200, response.content
    answer = Answer.objects.get(pk=response.json()["answer_id"])
    entry = RegisteredModel.objects.get(served_name=MODEL_NAME)
    assert answer.provenance["model_gate"] == {
        "served_name": MODEL_NAME,
        "registered_model_id": entry.pk,
        "licence": "apache-2.0",
        "verdict": "allowed",
        "allowed": True,
        "mode": "enforce",
        "flagged": False,
        "evaluation": "not required",
        "root": str(local_server.model_dir()),  # the weights vLLM loaded behind the served name
    }
    ask = AuditEvent.objects.get(action="ask", target_id=str(answer.pk))
    assert ask.details["model_gate"]["registered_model_id"] == entry.pk


def test_an_unregistered_served_model_is_refused_then_accepted_once_registered(
    llm: str, kestrel: Any, alice: Any, client_for: Client
) -> None:
    RegisteredModel.objects.filter(served_name=MODEL_NAME).delete()
    response = client_for(alice).post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"The model gate refused the language model: the served model '{MODEL_NAME}' is not in the model registry"
    )
    failed = Answer.objects.get()
    assert (
        failed.status == Answer.Status.FAILED and failed.provenance["model_gate"]["verdict"] == "unregistered"
    )

    registry.model_register(served_name=MODEL_NAME, licence_id="apache-2.0")
    response = client_for(alice).post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 200, response.content
    assert "BLUEFIN-4471" in response.json()["answer"]


def test_a_blocked_licence_blocks_answers_also_streamed(
    llm: str, kestrel: Any, alice: Any, client_for: Client
) -> None:
    RegisteredModel.objects.filter(served_name=MODEL_NAME).delete()
    registry.model_register(served_name=MODEL_NAME, licence_id="qwen-research")  # non-commercial only
    for stream in (False, True):
        response = client_for(alice).post("/api/v1/ask", {**QUESTION, "stream": stream}, format="json")
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert "is blocked for the declared use" in detail and "Commercial use is not permitted" in detail

    # The organisation declares non-commercial use: the verdict is recomputed and the model answers.
    registry.declared_use_set(use=DeclaredUse(internal_commercial_use=False))
    response = client_for(alice).post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 200, response.content


def test_warn_mode_answers_with_a_blocked_model_and_flags_it(
    llm: str, settings: Any, kestrel: Any, alice: Any, client_for: Client
) -> None:
    settings.MODEL_GATE = "warn"
    registry.declared_use_set(use=DeclaredUse(monthly_active_users=10))
    RegisteredModel.objects.filter(served_name=MODEL_NAME).update(licence_id="qwen-research")
    registry.verdicts_recompute()
    response = client_for(alice).post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 200, response.content
    gate_record = Answer.objects.get(pk=response.json()["answer_id"]).provenance["model_gate"]
    assert gate_record["flagged"] is True and gate_record["verdict"] == "blocked"

    health = client_for(alice).get("/api/v1/health").json()["components"]["model_gate"]
    assert health["status"] == "warning" and health["flagged"] is True and health["max_model_len"] > 0


def test_health_and_the_beat_recheck_show_the_decision_and_audit_each_change(
    llm: str, alice: Any, client_for: Client
) -> None:
    gate.cache_clear()
    cache.delete(gate.LAST_DECISION_KEY)  # the previous recheck's decision lives in Redis, across tests
    health = client_for(alice).get("/api/v1/health").json()["components"]["model_gate"]
    assert health["status"] == "ok" and health["served_name"] == MODEL_NAME and health["allowed"] is True

    assert model_gate_check() is True
    assert model_gate_check() is True  # unchanged: one event
    RegisteredModel.objects.filter(served_name=MODEL_NAME).delete()
    assert model_gate_check() is False
    events = list(AuditEvent.objects.filter(action="model.gate").order_by("seq"))
    assert [(e.outcome, e.details["verdict_status"]) for e in events][-2:] == [
        ("ok", "allowed"),
        ("denied", "unregistered"),
    ]


def test_a_model_switch_must_pass_the_required_evaluation_set_before_it_answers(
    llm: str, kestrel: Any, alice: Any, collection_a: Collection, client_for: Client, settings: Any
) -> None:
    # The set expects the wrong document first (as a set written for another corpus would): the run fails.
    required = evaluation.evaluation_set_create(
        collection_id=collection_a.pk,
        name="switch",
        items=[
            {**QUESTION, "expected_document_ids": [kestrel.pk + 1000]},
            {
                "question": "What is the quarterly parking budget of the Zanzibar office?",
                "not_in_documents": True,
            },
        ],
    )
    settings.MODEL_SWITCH_REQUIRES_EVAL = required.pk
    settings.MODEL_SWITCH_MIN_PCT = 100
    api = client_for(alice)
    response = api.post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 503
    assert (
        f"must pass evaluation set {required.pk} before it answers (it has no run of that set)"
        in (response.json()["detail"])
    )

    # An evaluation run is exempt: the model answers the run's questions although it may not answer users.
    failed = evaluation.evaluation_run(set_id=required.pk, user=alice, run_as=alice)
    assert failed.model == MODEL_NAME and failed.totals["errors"] == 0
    asked = failed.results.get(item__not_in_documents=False)
    assert asked.completion_tokens > 0 and asked.recall_at_k == 0.0
    assert failed.totals["passed"] is False and failed.totals["failures"] == ["recall_at_k 0.00 < 1.00"]
    assert Answer.objects.get(pk=asked.answer_id).provenance["model_gate"]["evaluation"] == "exempt"
    response = api.post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 503
    assert f"run {failed.pk} failed: recall_at_k 0.00 < 1.00" in response.json()["detail"]

    # The set corrected and run again: the model passes and answers.
    required.items.filter(not_in_documents=False).update(expected_document_ids=[kestrel.pk])
    passed = evaluation.evaluation_run(set_id=required.pk, user=alice, run_as=alice)
    assert passed.totals["passed"] is True and passed.totals["failures"] == []
    entry = RegisteredModel.objects.get(served_name=MODEL_NAME)
    assert entry.evaluations[str(required.pk)]["run"] == passed.pk
    response = api.post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 200, response.content
    answer = Answer.objects.get(pk=response.json()["answer_id"])
    assert answer.provenance["model_gate"]["evaluation"] == "passed"
    assert entry.evaluations[str(required.pk)]["root"] == str(local_server.model_dir())

    # Other weights behind the same served name (a model switch the name does not show): the pass no longer
    # counts.
    record = {**entry.evaluations[str(required.pk)], "root": "/models/another-model"}
    RegisteredModel.objects.filter(pk=entry.pk).update(evaluations={str(required.pk): record})
    response = api.post("/api/v1/ask", QUESTION, format="json")
    assert response.status_code == 503
    assert "passed on other weights ('/models/another-model'" in response.json()["detail"]
    outcomes = list(
        AuditEvent.objects.filter(action="model.evaluation", target_id=str(entry.pk)).values_list(
            "outcome", flat=True
        )
    )
    assert outcomes == ["failed", "ok"]
