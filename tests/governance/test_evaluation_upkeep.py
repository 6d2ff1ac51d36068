"""Keeping evaluation sets and runs in order: a question is edited (audited, validated), a regression set is
built from the answer log, and a run whose worker died is queued again and completes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from governance.compliance import evaluation
from governance.compliance.evaluation_upkeep import evaluation_runs_requeue, evaluation_set_from_answers
from governance.compliance.retention import retention_run
from governance.models import AuditEvent, CollectionGrant, EvaluationItem, EvaluationRun
from governance.roles import COMPLIANCE_GROUP
from inference.local_server import MODEL_NAME
from inference.model_evaluations import model_evaluated
from inference.models import RegisteredModel
from rag.models import Answer, AnswerFeedback, Citation, Collection, Conversation, Document
from tests.conftest import bundled_model_registered

pytestmark = pytest.mark.django_db

Client = Callable[[Any], APIClient]


@pytest.fixture
def officer(carol: Any) -> Any:
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    return carol


@pytest.fixture
def reading_officer(officer: Any, collection_a: Collection) -> Any:
    """A compliance officer who may read alice's collection (a read grant)."""
    CollectionGrant.objects.create(collection=collection_a, user=officer, permission="read")
    return officer


def _document(collection: Collection, title: str) -> Document:
    return Document.objects.create(
        collection=collection,
        title=title,
        original_filename=f"{title}.txt",
        mime_type="text/plain",
        sha256=title.ljust(64, "0")[:64],
        size_bytes=1,
        status=Document.Status.READY,
    )


def _answer(
    conversation: Conversation, question: str, *cited: Document, uncited: Document | None = None
) -> Answer:
    answer = Answer.objects.create(conversation=conversation, question=question, text="…")
    for n, document in enumerate(cited, start=1):
        Citation.objects.create(answer=answer, n=n, document=document, title=document.title, snippet="…")
    if uncited is not None:
        Citation.objects.create(
            answer=answer, n=9, document=uncited, title=uncited.title, snippet="…", cited=False
        )
    return answer


def test_an_officer_edits_a_question_and_the_change_is_validated_and_audited(
    reading_officer: Any, alice: Any, collection_a: Collection, client_for: Client
) -> None:
    created = evaluation.evaluation_set_create(
        collection_id=collection_a.pk, name="s", items=[{"question": "Who leads Kestrel?"}]
    )
    item = created.items.get()
    api = client_for(reading_officer)
    response = api.patch(
        f"/api/v1/evaluation-items/{item.pk}",
        {"expected_document_ids": [7], "expected_fact": "Defne Aydın"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["items"][0]["expected_fact"] == "Defne Aydın"
    item.refresh_from_db()
    assert item.expected_document_ids == [7] and item.question == "Who leads Kestrel?"
    event = AuditEvent.objects.get(action="evaluation.item_update", target_id=str(item.pk))
    assert event.details == {"set": created.pk, "fields": ["expected_document_ids", "expected_fact"]}
    assert "Aydın" not in str(event.details)

    # "Not in the documents" with an expected fact contradicts itself: refused, nothing changes.
    refused = api.patch(f"/api/v1/evaluation-items/{item.pk}", {"not_in_documents": True}, format="json")
    assert refused.status_code == 400 and "not in the documents" in refused.json()["detail"]
    item.refresh_from_db()
    assert item.not_in_documents is False
    assert api.patch("/api/v1/evaluation-items/999999", {}, format="json").status_code == 404
    assert (
        client_for(alice).patch(f"/api/v1/evaluation-items/{item.pk}", {}, format="json").status_code == 403
    )


def test_the_answer_log_becomes_a_regression_set_of_cited_documents(
    reading_officer: Any, alice: Any, collection_a: Collection, collection_b: Collection, client_for: Client
) -> None:
    handbook, menu = _document(collection_a, "handbook"), _document(collection_a, "menu")
    elsewhere = _document(collection_b, "other")
    conversation = Conversation.objects.create(user=alice, title="t")
    older = _answer(conversation, "What is the launch code?", handbook, uncited=menu)
    _answer(conversation, "What is the launch code?", handbook)  # the same question again: once
    both = _answer(conversation, "What is on the menu and in the handbook?", menu, handbook)
    disliked = _answer(conversation, "Wrong one?", menu)
    AnswerFeedback.objects.create(answer=disliked, user=alice, rating="down")
    _answer(conversation, "Another collection?", elsewhere)
    Answer.objects.create(conversation=conversation, question="Nothing found?", not_found=True)

    response = client_for(reading_officer).post(
        "/api/v1/evaluation-sets", {"collection": collection_a.pk, "from_answers": 10}, format="json"
    )
    assert response.status_code == 201, response.content
    items = response.json()["items"]
    assert [(i["question"], i["expected_document_ids"], i["source"]) for i in items] == [
        ("What is on the menu and in the handbook?", sorted([menu.pk, handbook.pk]), "answer_log"),
        ("What is the launch code?", [handbook.pk], "answer_log"),
    ]
    assert both.pk > older.pk
    nothing_answered = Collection.objects.create(name="empty", owner=alice)
    CollectionGrant.objects.create(collection=nothing_answered, user=reading_officer, permission="read")
    empty = client_for(reading_officer).post(
        "/api/v1/evaluation-sets", {"collection": nothing_answered.pk, "from_answers": 5}, format="json"
    )
    assert empty.status_code == 400 and "no answered questions" in empty.json()["detail"]


def test_a_run_whose_worker_died_is_queued_again_and_completes(
    alice: Any, collection_a: Collection, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    created = evaluation.evaluation_set_create(
        collection_id=collection_a.pk,
        name="s",
        items=[{"question": "What is the parking budget of the Zanzibar office?", "not_in_documents": True}],
    )
    stuck = evaluation.evaluation_run_create(set_id=created.pk, user=alice, run_as=alice)
    fresh = evaluation.evaluation_run_create(set_id=created.pk, user=alice, run_as=alice)
    long_ago = timezone.now() - timedelta(seconds=settings.EVALUATION_RUN_LEASE_S + 60)
    EvaluationRun.objects.filter(pk=stuck.pk).update(
        status="running", started_at=long_ago, heartbeat_at=long_ago
    )
    EvaluationRun.objects.filter(pk=fresh.pk).update(
        status="running",
        started_at=long_ago,
        heartbeat_at=timezone.now(),  # a long run, still beating
    )
    # A redelivered task finds the dead worker's claim and returns: the run is not asked twice at once.
    assert evaluation.evaluation_run_execute(run_id=stuck.pk) is None

    with django_capture_on_commit_callbacks(execute=False) as sends:
        assert evaluation_runs_requeue() == 1
    assert len(sends) == 1  # the task message, sent once the transaction commits
    assert EvaluationRun.objects.get(pk=stuck.pk).status == "queued"
    assert EvaluationRun.objects.get(pk=fresh.pk).status == "running"  # within its lease: left alone
    assert AuditEvent.objects.filter(action="evaluation.requeue", target_id=str(stuck.pk)).exists()

    completed = evaluation.evaluation_run_execute(run_id=stuck.pk)  # what the worker does with the message
    assert completed is not None and completed.status == "complete"
    assert completed.totals["correct_not_found"] == 1.0 and completed.results.count() == 1


def test_a_run_measuring_nothing_does_not_pass() -> None:
    measured_nothing = {"items": 3, "errors": 0, **dict.fromkeys(evaluation.PASS_RATES)}
    passed, failures = evaluation.run_passes(measured_nothing, min_pct=0)
    assert not passed and failures[0].startswith("nothing was measured")
    assert evaluation.run_passes({**measured_nothing, "correct_not_found": 1.0}, min_pct=100) == (True, [])


def test_editing_a_question_withdraws_the_passes_recorded_against_the_old_questions(
    reading_officer: Any, collection_a: Collection, client_for: Client
) -> None:
    created = evaluation.evaluation_set_create(
        collection_id=collection_a.pk, name="s", items=[{"question": "Q?", "not_in_documents": True}]
    )
    bundled_model_registered()
    model_evaluated(served_name=MODEL_NAME, set_id=created.pk, run_id=1, passed=True, failures=[])
    response = client_for(reading_officer).patch(
        f"/api/v1/evaluation-items/{created.items.get().pk}", {"question": "Another Q?"}, format="json"
    )
    assert response.status_code == 200
    assert str(created.pk) not in RegisteredModel.objects.get(served_name=MODEL_NAME).evaluations
    assert AuditEvent.objects.filter(action="model.evaluation_invalidated").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"question": "q", "source_answer_id": "abc"}]},
        {"items": [{"question": "q", "source_answer_id": 10**30}]},
        {"content": '{"question": "q", "expected_document_ids": [1e400]}'},
        {"content": '{"question": "q", "expected_document_ids": [99999999999999999999999]}'},
        {"items": [{"question": "q\x00"}]},
        {"content": "question,expected_fact\nq," + "x" * 140_000 + "\n"},
    ],
)
def test_malformed_items_are_a_400_or_ignored_never_a_500(
    officer: Any, collection_a: Collection, client_for: Client, body: dict[str, Any]
) -> None:
    response = client_for(officer).post(
        "/api/v1/evaluation-sets", {"collection": collection_a.pk, **body}, format="json"
    )
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:  # a source answer id from user input is dropped, not stored
        assert EvaluationItem.objects.get().source_answer_id is None


def test_a_worker_that_lost_its_claim_stops_and_an_unexpected_error_fails_the_run(
    alice: Any, collection_a: Collection, monkeypatch: Any
) -> None:
    created = evaluation.evaluation_set_create(
        collection_id=collection_a.pk, name="s", items=[{"question": "Q?", "not_in_documents": True}]
    )
    run = evaluation.evaluation_run_create(set_id=created.pk, user=alice, run_as=alice)
    assert AuditEvent.objects.filter(action="evaluation.run_queue", target_id=str(run.pk)).exists()
    EvaluationRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    # Another worker holds the claim now: this one's heartbeat (an older time) renews nothing.
    assert evaluation._beat(run.pk, timezone.now() - timedelta(hours=1)) is None

    broken = evaluation.evaluation_run_create(set_id=created.pk, user=alice, run_as=alice)

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("embedding model gone")

    monkeypatch.setattr(evaluation, "_evaluate_item", explode)
    failed = evaluation.evaluation_run_execute(run_id=broken.pk)
    assert failed is not None and failed.status == "failed"
    assert failed.error == "RuntimeError: embedding model gone"
    event = AuditEvent.objects.get(action="evaluation.run", target_id=str(broken.pk))
    assert event.outcome == "failed" and event.details["error"] == "RuntimeError"  # the kind, not the message


def test_questions_copied_from_answers_go_with_their_answers_at_retention(
    officer: Any, alice: Any, collection_a: Collection, client_for: Client, settings: Any
) -> None:
    handbook = _document(collection_a, "handbook")
    old = Conversation.objects.create(user=alice, title="old")
    kept = Conversation.objects.create(user=alice, title="kept")
    _answer(old, "What is the launch code?", handbook)
    _answer(kept, "Who leads Kestrel?", handbook)
    created = evaluation_set_from_answers(collection_id=collection_a.pk, limit=10)
    manual = evaluation.evaluation_set_create(
        collection_id=collection_a.pk, name="typed", items=[{"question": "What is the launch code?"}]
    )
    Conversation.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=400))
    settings.CONVERSATION_RETENTION_DAYS = 365
    retention_run()
    assert list(created.items.values_list("question", flat=True)) == ["Who leads Kestrel?"]
    assert manual.items.count() == 1  # typed by an officer, not a copy of an answer
    event = AuditEvent.objects.get(action="evaluation.items_prune")
    assert event.details == {"items": 1, "sets": [created.pk]}


def test_sets_from_logs_and_their_questions_stay_within_what_the_requester_can_read(
    officer: Any, alice: Any, collection_a: Collection, client_for: Client
) -> None:
    conversation = Conversation.objects.create(user=alice, title="t")
    _answer(conversation, "Alice's question?", _document(collection_a, "handbook"))
    api = client_for(officer)  # a compliance officer without access to alice's collection
    refused = api.post(
        "/api/v1/evaluation-sets", {"collection": collection_a.pk, "from_answers": 5}, format="json"
    )
    assert refused.status_code == 400 and "cannot read this collection" in refused.json()["detail"]
    created = evaluation_set_from_answers(collection_id=collection_a.pk, limit=5)  # e.g. by its owner
    assert api.get("/api/v1/evaluation-sets").json()["results"] == []
    assert api.post(f"/api/v1/evaluation-sets/{created.pk}/runs").status_code == 404
    item = created.items.get()
    assert (
        api.patch(f"/api/v1/evaluation-items/{item.pk}", {"question": "x"}, format="json").status_code == 404
    )
