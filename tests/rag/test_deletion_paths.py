"""One deletion service (issue 13, item 6): the API, the portal, the admin, retention and erasure all delete a
document through rag.services.deletion — chunks (and with them vectors and subject-index rows), the stored
file, the passages citations copied — and audit it with the acting user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from governance.audit import SYSTEM, Actor
from governance.compliance.subjects import subject_request_create, subject_request_process
from governance.models import AuditEvent, CollectionGrant, SubjectMention
from governance.roles import COMPLIANCE_GROUP
from rag.models import Answer, Chunk, Citation, Collection, Conversation, Document
from rag.services.deletion import DESTROYED_TITLE, document_delete, passages_delete
from tests.conftest import with_inventory
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

Clients = Callable[[Any], APIClient]

AYSE = {"tckn": "10000000146", "email": "ayse.yilmaz@example.com"}
LETTER = (
    "Kredi başvurusu dosyası.\n\n"
    f"Müşteri Ayşe Yılmaz, T.C. kimlik no {AYSE['tckn']}, e-posta {AYSE['email']}. "
    "Başvurusu değerlendirildi ve kredi limiti onaylandı.\n"
).encode()


@pytest.fixture
def officer(carol: Any) -> Any:
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    return carol


def _api(document: Document, alice: Any, officer: Any, client_for: Clients) -> tuple[str, int | None]:
    assert client_for(alice).delete(f"/api/v1/documents/{document.pk}").status_code == 204
    return "document.delete", alice.pk


def _portal(document: Document, alice: Any, officer: Any, client_for: Clients) -> tuple[str, int | None]:
    # What the document page's script does: DELETE with the session cookie and its CSRF token.
    web = Client(enforce_csrf_checks=True)
    web.force_login(alice)
    assert 'id="delete-document"' in web.get(f"/documents/{document.pk}/").content.decode()
    token = web.cookies["csrftoken"].value
    assert web.delete(f"/api/v1/documents/{document.pk}", HTTP_X_CSRFTOKEN=token).status_code == 204
    return "document.delete", alice.pk


def _admin(document: Document, alice: Any, officer: Any, client_for: Clients) -> tuple[str, int | None]:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    web = Client()
    web.force_login(alice)
    assert web.post(f"/admin/rag/document/{document.pk}/delete/", {"post": "yes"}).status_code == 302
    return "document.delete", alice.pk


def _retention(document: Document, alice: Any, officer: Any, client_for: Clients) -> tuple[str, int | None]:
    # An officer runs retention now (the scheduled run acts as the system: no person is acting).
    with_inventory(document.collection, retention_days=30)
    Document.objects.filter(pk=document.pk).update(created_at=timezone.now() - timedelta(days=40))
    assert client_for(officer).post("/api/v1/retention/run").status_code == 200
    return "retention.destroy", officer.pk


def _erasure(document: Document, alice: Any, officer: Any, client_for: Clients) -> tuple[str, int | None]:
    with_inventory(document.collection, erasure_scope="document")  # the whole document goes
    acting = Actor(user_id=officer.pk, role="compliance_officer")
    request = subject_request_create(kind="erasure", identifiers=AYSE, user=officer, actor=acting)
    done = subject_request_process(request_id=request.pk, actor=acting)
    assert done is not None and done.status == "completed", done and done.error
    return "erasure.destroy", officer.pk


PATHS = {"api": _api, "portal": _portal, "admin": _admin, "retention": _retention, "erasure": _erasure}


@pytest.fixture
def letter(alice: Any, collection_a: Collection) -> tuple[Document, Citation]:
    document = ingest_bytes(collection_a, alice, LETTER, "kredi.txt", title="Kredi dosyası")
    assert document.status == Document.Status.READY and document.file_path
    assert SubjectMention.objects.filter(document_id=document.pk).exists()
    chunk = Chunk.objects.filter(document=document).first()
    assert chunk is not None
    conversation = Conversation.objects.create(user=alice, title="kredi")
    answer = Answer.objects.create(conversation=conversation, question="Karar?", text="Onaylandı [1].")
    citation = Citation.objects.create(
        answer=answer, n=1, chunk=chunk, document=document, title=document.title, page=1, snippet=chunk.text
    )
    return document, citation


@pytest.mark.parametrize("path", list(PATHS))
def test_every_deletion_path_goes_through_the_one_service(
    path: str,
    letter: tuple[Document, Citation],
    alice: Any,
    officer: Any,
    client_for: Clients,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    document, citation = letter
    settings.DSR_ERASURE_APPROVAL = False  # erasure: no second officer needed here
    stored = Path(settings.MEDIA_ROOT) / document.file_path
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        action, actor_id = PATHS[path](document, alice, officer, client_for)

    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()  # and with the rows their vectors
    assert not SubjectMention.objects.filter(document_id=document.pk).exists()
    assert not stored.exists()
    # The citation's copy of the passage goes (erasure may drop the whole cached answer instead).
    left = Citation.objects.filter(pk=citation.pk).first()
    if left is not None:
        assert (left.snippet, left.section, left.title) == ("", "", DESTROYED_TITLE)
        assert (left.chunk_id, left.document_id, left.page) == (None, None, None)
    else:
        assert path == "erasure"
    event = AuditEvent.objects.get(action=action, target_type="document", target_id=str(document.pk))
    assert event.actor_user_id == actor_id and event.role != SYSTEM.role
    assert event.collection_id == document.collection_id and event.details["chunks"] >= 1


def test_an_erasure_run_by_the_worker_is_audited_with_an_officer(
    letter: tuple[Document, Citation], officer: Any, settings: Any
) -> None:
    document, _citation = letter
    settings.DSR_ERASURE_APPROVAL = False
    acting = Actor(user_id=officer.pk, role="compliance_officer")
    request = subject_request_create(kind="erasure", identifiers=AYSE, user=officer, actor=acting)
    subject_request_process(request_id=request.pk)  # as the Celery task calls it
    event = AuditEvent.objects.get(action="erasure.destroy", target_id=str(document.pk))
    assert event.actor_user_id == officer.pk


def test_a_stale_copy_of_the_document_still_deletes_the_stored_file(
    letter: tuple[Document, Citation], alice: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # The admin and querysets hand over their own (possibly stale) copy; the service works from the locked row.
    document, _citation = letter
    stale = Document.objects.get(pk=document.pk)
    stale.file_path = ""
    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document=stale, actor=Actor(user_id=alice.pk, role="employee"))
    assert not (Path(settings.MEDIA_ROOT) / document.file_path).exists()


def test_erasing_passages_blanks_the_citations_that_copied_them(
    letter: tuple[Document, Citation],
) -> None:
    document, citation = letter
    passages_delete(document=document, chunk_ids=[citation.chunk_id or 0])
    left = Citation.objects.get(pk=citation.pk)
    assert (left.snippet, left.title, left.document_id) == ("", DESTROYED_TITLE, None)


def test_an_administrator_who_may_only_read_a_collection_cannot_delete_its_documents_in_the_admin(
    letter: tuple[Document, Citation], bob: Any
) -> None:
    # The admin is not a weaker path than the API: deleting needs the right to write the collection.
    document, _citation = letter
    CollectionGrant.objects.create(collection=document.collection, user=bob, permission="read")
    bob.is_staff = bob.is_superuser = True
    bob.save()
    web = Client()
    web.force_login(bob)
    assert web.post(f"/admin/rag/document/{document.pk}/delete/", {"post": "yes"}).status_code == 403
    web.post(
        "/admin/rag/document/",
        {"action": "delete_selected", "_selected_action": [document.pk], "post": "yes"},
    )
    assert Document.objects.filter(pk=document.pk).exists()
    assert not AuditEvent.objects.filter(action="document.delete", target_id=str(document.pk)).exists()
