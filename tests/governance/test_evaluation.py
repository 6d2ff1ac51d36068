"""Prompt & validate: an evaluation set over a tiny ingested collection, run through the governed answer path
against the real bundled model server; retrieval and not-found are asserted exactly, the fact metrics on being
computed (the 135M model does not reliably write the fact); two runs compared; the command; who may call."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.test import APIClient

from governance.compliance import evaluation, evaluation_compare
from governance.models import AuditEvent, CollectionGrant
from governance.roles import COMPLIANCE_GROUP
from rag.models import Answer, AnswerFeedback, Collection, Conversation
from rag.selectors import conversation_list
from tests.conftest import wait_for
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

Client = Callable[[Any], APIClient]

KESTREL = (
    "Kestrel project handbook.\n\n"
    "The launch code of the Kestrel project is BLUEFIN-4471. Only the project lead may use it.\n\n"
    "The Kestrel project lead is Defne Aydın, who joined the company in 2019.\n"
).encode()
MENU = (
    b"Cafeteria menu. On Mondays the cafeteria serves lentil soup and rice. "
    b"On Fridays it serves grilled fish with a green salad."
)


@pytest.fixture
def docs(alice: Any, collection_a: Collection) -> tuple[int, int]:
    menu = ingest_bytes(collection_a, alice, MENU, "menu.txt", title="Cafeteria menu")
    kestrel = ingest_bytes(collection_a, alice, KESTREL, "kestrel.txt", title="Kestrel handbook")
    return kestrel.pk, menu.pk


@pytest.fixture
def officer(carol: Any, collection_a: Collection) -> Any:
    """A compliance officer who may read the collection (runs ask as the requester, under their access; the
    questions of a collection's sets are visible only to those who can read it)."""
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    CollectionGrant.objects.create(collection=collection_a, user=carol, permission="read")
    return carol


def small_set(collection: Collection, kestrel: int, menu: int) -> Any:
    return evaluation.evaluation_set_create(
        collection_id=collection.pk,
        name="tiny",
        items=[
            {
                "question": "What is the launch code of the Kestrel project?",
                "expected_document_ids": [kestrel],
                "expected_fact": "bluefin-4471",
            },
            {
                "question": "What does the cafeteria serve on Fridays?",
                "expected_document_ids": [menu],
                "expected_fact": "grilled fish",
            },
            {
                "question": "Who leads the Kestrel project?",
                "expected_document_ids": [kestrel],
                "expected_fact": "Aydin",
            },
            {
                "question": "What is the quarterly parking budget of the Zanzibar office?",
                "not_in_documents": True,
            },
        ],
    )


def test_metrics_are_case_and_diacritic_insensitive_and_rank_based() -> None:
    assert evaluation.contains_fact("The lead is DEFNE AYDIN.", "Defne Aydın")
    assert evaluation.contains_fact("Şule Çelik", "sule celik")
    assert not evaluation.contains_fact("anything", "")
    assert evaluation.retrieval_metrics([5, 7, 9], [7]) == (1.0, 0.5)
    assert evaluation.retrieval_metrics([5, 5, 9], [7, 9]) == (0.5, 0.5)
    assert evaluation.retrieval_metrics([5], [7]) == (0.0, 0.0)
    assert evaluation.retrieval_metrics([5], []) == (None, None)


def test_items_import_from_jsonl_and_csv(collection_a: Collection) -> None:
    jsonl = (
        b'{"question": "Q1?", "expected_document_ids": [3], "expected_fact": "x"}\n\n'
        b'{"question": "Q2?", "not_in_documents": true}\n'
    )
    csv_text = b"question,expected_document_ids,expected_fact,not_in_documents\nQ1?,3;4,x,\nQ2?,,,yes\n"
    for data, name in ((jsonl, "set.jsonl"), (csv_text, "set.csv")):
        created = evaluation.evaluation_set_import(
            file=type("F", (), {"read": lambda self, d=data: d, "name": name})(),
            collection_id=collection_a.pk,
            name=name,
        )
        items = list(created.items.all())
        assert [i.question for i in items] == ["Q1?", "Q2?"]
        assert items[0].expected_document_ids[0] == 3 and items[0].expected_fact == "x"
        assert items[1].not_in_documents and items[1].source == "import"
    with pytest.raises(evaluation.EvaluationError):
        evaluation.evaluation_set_create(
            collection_id=collection_a.pk,
            name="bad",
            items=[{"question": "Q?", "not_in_documents": True, "expected_fact": "x"}],
        )


def test_thumbs_down_answers_become_items(alice: Any, collection_a: Collection) -> None:
    conversation = Conversation.objects.create(user=alice, title="t")
    down = Answer.objects.create(
        conversation=conversation, question="Why is it wrong?", collection_ids=[collection_a.pk]
    )
    up = Answer.objects.create(conversation=conversation, question="Fine?", collection_ids=[collection_a.pk])
    AnswerFeedback.objects.create(answer=down, user=alice, rating="down")
    AnswerFeedback.objects.create(answer=up, user=alice, rating="up")
    created = evaluation.evaluation_set_from_feedback(collection_id=collection_a.pk)
    items = list(created.items.all())
    assert [(i.question, i.source, i.source_answer_id) for i in items] == [
        ("Why is it wrong?", "feedback", down.pk)
    ]


def test_run_measures_each_question_and_compares_two_runs(
    llm: str, alice: Any, collection_a: Collection, docs: tuple[int, int], officer: Any, client_for: Client
) -> None:
    kestrel, menu = docs
    evaluation_set = small_set(collection_a, kestrel, menu)
    run = evaluation.evaluation_run(set_id=evaluation_set.pk, user=officer, run_as=alice)
    assert run.status == "complete"
    results = list(run.results.select_related("item").order_by("item_id"))
    assert len(results) == 4 and not any(r.error for r in results)
    launch, fridays, lead, parking = results
    # Retrieval, deterministic: the expected document comes back first.
    for result, expected in ((launch, kestrel), (fridays, menu), (lead, kestrel)):
        assert result.retrieved_document_ids[0] == expected, result.retrieved_document_ids
        assert result.recall_at_k == 1.0 and result.reciprocal_rank == 1.0
        assert result.not_found is False and result.correct_not_found is None
        # The fact metrics are computed (their value is the model's quality, not asserted).
        assert result.answer_has_fact is not None and result.citation_has_fact is not None
        assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.total_ms
        assert result.prompt_tokens > 0 and result.completion_tokens > 0
        answer = Answer.objects.get(pk=result.answer_id)
        assert result.answer_has_fact == evaluation.contains_fact(answer.text, result.item.expected_fact)
    # The unanswerable question: a correct not-found, no model call.
    assert parking.not_found and parking.correct_not_found is True
    assert (
        parking.retrieved_document_ids == []
        and parking.recall_at_k is None
        and parking.completion_tokens == 0
    )
    totals = run.totals
    assert totals["items"] == 4 and totals["recall_at_k"] == 1.0 and totals["mrr"] == 1.0
    assert totals["correct_not_found"] == 1.0 and totals["answer_has_fact"] is not None
    print("evaluation totals:", totals)  # noqa: T201 — the figures for the report (pytest -s)
    # The questions were asked in conversations of their own kind: kept, not among alice's chats.
    assert Conversation.objects.filter(user=alice, kind="evaluation").count() == 4
    assert not conversation_list(user=alice).exists()
    # Audited with counts only: no question text.
    event = AuditEvent.objects.filter(action="evaluation.run").get()
    assert event.details["items"] == 4 and event.details["not_found"] == 1
    assert "Kestrel" not in str(event.details)

    # A second run and the comparison.
    run_b = evaluation.evaluation_run(set_id=evaluation_set.pk, user=officer, run_as=alice)
    comparison = evaluation_compare.evaluation_compare(run_a=run, run_b=run_b)
    assert len(comparison["items"]) == 4
    assert comparison["items"][0]["delta"]["recall_at_k"] == 0.0
    assert comparison["items"][3]["delta"]["correct_not_found"] == 0.0
    assert comparison["totals_delta"]["items"] == 0.0

    # The command prints each question and the totals; --compare prints deltas.
    out = StringIO()
    call_command("evaluate", "--set", str(evaluation_set.pk), "--user", "alice", stdout=out)
    printed = out.getvalue()
    assert "recall@k 1.00" in printed and "not found yes (correct yes)" in printed and "Totals:" in printed
    out = StringIO()
    call_command("evaluate", "--compare", str(run.pk), str(run_b.pk), stdout=out)
    assert "Totals delta:" in out.getvalue()

    # The API: an officer reads a run and a comparison; an employee is refused.
    officer_client, employee_client = client_for(officer), client_for(alice)
    response = officer_client.get(f"/api/v1/evaluation-runs/{run.pk}")
    assert response.status_code == 200 and len(response.json()["results"]) == 4
    response = officer_client.get(f"/api/v1/evaluation-runs/{run.pk}/compare/{run_b.pk}")
    assert response.status_code == 200 and len(response.json()["items"]) == 4
    for method, url in (
        ("get", "/api/v1/evaluation-sets"),
        ("post", f"/api/v1/evaluation-sets/{evaluation_set.pk}/runs"),
        ("get", f"/api/v1/evaluation-runs/{run.pk}"),
        ("get", f"/api/v1/evaluation-runs/{run.pk}/compare/{run_b.pk}"),
    ):
        assert getattr(employee_client, method)(url).status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_api_queues_a_run_that_the_worker_completes(
    celery_worker: Any,
    alice: Any,
    collection_a: Collection,
    docs: tuple[int, int],
    officer: Any,
    client_for: Client,
) -> None:
    # The worker is another process that does not see this test's model-server URL: an unanswerable question
    # needs no model call (retrieval finds nothing relevant), so the queued path is checked end to end.
    client = client_for(officer)
    response = client.post(
        "/api/v1/evaluation-sets",
        {
            "collection": collection_a.pk,
            "name": "api",
            "content": '{"question": "What is the quarterly parking budget of the Zanzibar office?", '
            '"not_in_documents": true}',
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    set_id = response.json()["id"]
    response = client.post(f"/api/v1/evaluation-sets/{set_id}/runs", format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    run_id = response.json()["id"]
    run = wait_for(
        lambda: (
            (data := client.get(f"/api/v1/evaluation-runs/{run_id}").json())["status"] == "complete" and data
        ),
        what="the evaluation run",
        state=lambda: client.get(f"/api/v1/evaluation-runs/{run_id}").json(),
    )
    assert run["totals"]["correct_not_found"] == 1.0 and run["totals"]["errors"] == 0
    assert (
        run["results"][0]["not_found"] is True and run["run_as"] == officer.pk
    )  # as the requester, never as someone else
    assert AuditEvent.objects.filter(action="evaluation.run", target_id=str(run_id)).exists()
