"""Access is re-checked on every read of a saved answer (issue 13, item 5): after a grant is revoked, a
document deleted or a passage flagged special-category, the conversation API, the portal's conversation page
and the history sent back to the model no longer carry what the reader may not read now."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from governance.audit import Actor
from governance.grants import grant_revoke
from governance.models import CollectionGrant
from inference import llm
from rag import selectors
from rag.models import Answer, Chunk, Citation, Collection, Conversation, Document
from rag.services import answers
from rag.services.deletion import document_delete
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

Clients = Callable[[Any], APIClient]

SECRET = "BLUEFIN-4471"
FACT_DOC = (
    "Kestrel project handbook.\n\n"
    f"The launch code of the Kestrel project is {SECRET}. Only the project lead may use it.\n"
).encode()
BUDGET_DOC = b"Kestrel project budget. The Kestrel budget for next year is forty thousand lira."


class _NoTokenize(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint without /tokenize: the prompt is fitted by estimate, no model needed."""

    def do_POST(self) -> None:  # noqa: N802
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def no_model(settings: Any) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoTokenize)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.LLM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield
    server.shutdown()


@pytest.fixture
def handbook(alice: Any, collection_a: Collection) -> Document:
    return ingest_bytes(collection_a, alice, FACT_DOC, "kestrel.txt", title="Kestrel handbook")


@pytest.fixture
def grant(handbook: Document, collection_a: Collection, bob: Any) -> CollectionGrant:
    return CollectionGrant.objects.create(
        collection=collection_a, user=bob, permission=CollectionGrant.Permission.READ
    )


@pytest.fixture
def bobs_answer(no_model: None, grant: CollectionGrant, bob: Any, collection_b: Collection) -> Answer:
    """Bob asked, through his read grant on alice's collection, and the model answered with the secret (the
    answer is stored as the answer flow stores a model's reply)."""
    ingest_bytes(collection_b, bob, BUDGET_DOC, "budget.txt", title="Kestrel budget")
    prepared = answers.answer_prepare(
        user=bob, question="What is the Kestrel launch code?", collection_ids=[grant.collection_id]
    )
    assert [SECRET in source.text for source in prepared.sources] == [True]
    answer = answers._store(
        prepared,
        text=f"The launch code is {SECRET} [1].",
        status=Answer.Status.COMPLETE,
        model="test",
        usage=llm.Usage(),
    )
    assert Citation.objects.filter(answer=answer, snippet__contains=SECRET).exists()
    return answer


def shown(client_for: Clients, user: Any, answer: Answer) -> tuple[str, str, dict[str, Any]]:
    """The conversation as the API and the portal show it to ``user``, and the API's answer."""
    api = client_for(user).get(f"/api/v1/conversations/{answer.conversation_id}")
    assert api.status_code == 200
    web = Client()
    web.force_login(user)
    page = web.get(f"/c/{answer.conversation_id}/")
    assert page.status_code == 200
    return api.content.decode(), page.content.decode(), api.json()["answers"][0]


def follow_up(user: Any, answer: Answer) -> str:
    """The prompt built for a follow-up question in the same conversation (sources from bob's own budget)."""
    prepared = answers.answer_prepare(
        user=user,
        question="What is the Kestrel budget for next year?",
        conversation=Conversation.objects.get(pk=answer.conversation_id),
    )
    assert prepared.messages, "the follow-up found sources: the prompt was built"
    return "\n".join(message["content"] for message in prepared.messages)


def assert_withheld(body: dict[str, Any]) -> None:
    assert body["withheld"] is True and body["answer"] == answers.withheld_text()
    assert body["citations"][0]["n"] == 1 and body["citations"][0]["available"] is False
    assert body["citations"][0]["document_id"] is None and body["citations"][0]["snippet"] == ""
    assert body["citations"][0]["title"] == "Source no longer available to you"


def test_before_anything_changes_the_reader_sees_the_answer_its_sources_and_the_history(
    bobs_answer: Answer, bob: Any, client_for: Clients
) -> None:
    api, page, body = shown(client_for, bob, bobs_answer)
    assert SECRET in api and SECRET in page
    assert body["withheld"] is False and body["citations"][0]["available"] is True
    assert SECRET in follow_up(bob, bobs_answer)  # the control: history does reach the model


def test_revoked_grant_hides_snippets_answer_and_history(
    bobs_answer: Answer, bob: Any, alice: Any, grant: CollectionGrant, client_for: Clients
) -> None:
    grant_revoke(grant=grant, actor=Actor(user_id=alice.pk, role="employee"))
    api, page, body = shown(client_for, bob, bobs_answer)
    assert SECRET not in api and SECRET not in page
    assert "Kestrel handbook" not in api and "Kestrel handbook" not in page
    assert_withheld(body)
    prompt = follow_up(bob, bobs_answer)
    assert SECRET not in prompt and "What is the Kestrel launch code?" not in prompt  # the whole turn


def test_deleted_document_hides_snippets_answer_and_history(
    bobs_answer: Answer, bob: Any, alice: Any, handbook: Document, client_for: Clients
) -> None:
    assert client_for(alice).delete(f"/api/v1/documents/{handbook.pk}").status_code == 204
    api, page, body = shown(client_for, bob, bobs_answer)
    assert SECRET not in api and SECRET not in page
    assert_withheld(body)
    assert SECRET not in follow_up(bob, bobs_answer)


def test_passage_flagged_special_is_hidden_without_the_special_grant_and_shown_with_it(
    bobs_answer: Answer, bob: Any, handbook: Document, collection_a: Collection, client_for: Clients
) -> None:
    Chunk.objects.filter(document=handbook).update(special_categories=["health"])
    Document.objects.filter(pk=handbook.pk).update(special_title=True)
    api, page, body = shown(client_for, bob, bobs_answer)
    assert SECRET not in api and SECRET not in page
    assert_withheld(body)
    assert SECRET not in follow_up(bob, bobs_answer)

    CollectionGrant.objects.create(
        collection=collection_a, user=bob, permission=CollectionGrant.Permission.SPECIAL
    )
    api, page, body = shown(client_for, bob, bobs_answer)
    assert SECRET in api and SECRET in page
    assert body["withheld"] is False and body["citations"][0]["available"] is True
    assert body["citations"][0]["title"] == "Kestrel handbook"
    assert SECRET in follow_up(bob, bobs_answer)


def test_a_special_title_is_hidden_in_a_citation_of_a_passage_that_is_not(
    bobs_answer: Answer, bob: Any, handbook: Document, client_for: Clients
) -> None:
    Document.objects.filter(pk=handbook.pk).update(special_title=True)
    api, page, body = shown(client_for, bob, bobs_answer)
    assert body["citations"][0]["title"] == selectors.HIDDEN_TITLE
    assert "Kestrel handbook" not in api and "Kestrel handbook" not in page


def test_a_special_title_is_hidden_from_the_model_that_writes_for_a_reader_without_the_grant(
    no_model: None, grant: CollectionGrant, handbook: Document, bob: Any, collection_a: Collection
) -> None:
    Document.objects.filter(pk=handbook.pk).update(special_title=True)
    prepared = answers.answer_prepare(user=bob, question="What is the Kestrel launch code?")
    system = prepared.messages[0]["content"]
    assert f'title="{selectors.HIDDEN_TITLE}"' in system and "Kestrel handbook" not in system
    # The citation still copies the title: a reader granted ``special`` later sees it (citation_data).
    assert prepared.sources[0].title == "Kestrel handbook" and prepared.sources[0].title_hidden
    CollectionGrant.objects.create(
        collection=collection_a, user=bob, permission=CollectionGrant.Permission.SPECIAL
    )
    granted = answers.answer_prepare(user=bob, question="What is the Kestrel launch code?")
    assert 'title="Kestrel handbook"' in granted.messages[0]["content"]


def test_a_passage_replaced_by_reingestion_is_judged_by_its_document(
    bobs_answer: Answer, bob: Any, handbook: Document
) -> None:
    # Re-ingestion (a policy change) replaces the chunk rows: the citation loses its chunk, not its document.
    Citation.objects.filter(answer=bobs_answer).update(chunk=None)
    answer = selectors.answer_get(user=bob, answer_id=bobs_answer.pk)
    assert answer.withheld is False  # type: ignore[attr-defined]
    assert SECRET in answers.citation_data(answer.citations.all()[0])["snippet"]
    # ... but if the document now holds a special-category passage, only readers with the grant see it.
    Chunk.objects.filter(document=handbook).update(special_categories=["criminal"])
    answer = selectors.answer_get(user=bob, answer_id=bobs_answer.pk)
    assert answer.withheld is True  # type: ignore[attr-defined]
    assert answers.citation_data(answer.citations.all()[0])["snippet"] == ""


def test_a_citation_not_read_through_the_selector_is_a_placeholder(bobs_answer: Answer) -> None:
    # Fail closed: code that forgets the selector shows nothing of the passage.
    data = answers.citation_data(Citation.objects.get(answer=bobs_answer))
    assert data["available"] is False and data["snippet"] == "" and data["document_id"] is None
    assert answers.answer_text_shown(Answer.objects.get(pk=bobs_answer.pk)) == answers.withheld_text()


def test_conversation_reads_cost_a_fixed_number_of_queries(
    bobs_answer: Answer, bob: Any, django_assert_max_num_queries: Any
) -> None:
    conversation = Conversation.objects.get(pk=bobs_answer.conversation_id)
    with django_assert_max_num_queries(2):  # the answers (withheld in SQL), their citations (readable in SQL)
        listed = list(selectors.conversation_answers(user=bob, conversation=conversation))
        assert [len(a.citations.all()) for a in listed] == [1]
    with django_assert_max_num_queries(1):
        assert selectors.conversation_history(user=bob, conversation=conversation, turns=5)


@pytest.mark.slow
def test_follow_up_through_the_real_model_after_deletion_does_not_carry_the_revoked_answer(
    llm: str,
    bobs_answer: Answer,
    bob: Any,
    alice: Any,
    handbook: Document,
    client_for: Clients,
    settings: Any,
) -> None:
    settings.LLM_BASE_URL = llm  # bobs_answer was stored without the model (no_model); now the real one
    document_delete(document=handbook, actor=Actor(user_id=alice.pk, role="employee"))
    body = client_for(bob).post(
        "/api/v1/ask",
        {
            "question": "What is the Kestrel budget for next year?",
            "conversation_id": bobs_answer.conversation_id,
        },
        format="json",
    )
    assert body.status_code == 200, body.content
    assert SECRET not in body.content.decode()
    assert (
        SECRET
        not in client_for(bob).get(f"/api/v1/conversations/{bobs_answer.conversation_id}").content.decode()
    )
