"""Retention: documents past their collection's retention period are destroyed with everything derived from
them, a destruction record is kept (and cannot be deleted early), the job is idempotent and safe to run twice
at the same time; the dry run shows exactly what a run destroys."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.audit import audit_verify
from governance.compliance.retention import retention_preview, retention_run
from governance.models import AuditEvent, DestructionRecord, SubjectMention
from rag import storage
from rag.models import Answer, Chunk, Citation, Collection, Conversation, Document
from tests.conftest import with_inventory
from tests.rag.helpers import ingest_bytes

TEXT = "Personel dosyası. Çalışan Ayşe Kaya, T.C. kimlik no 10000000146. İzin ve bordro kayıtları.\n\n" * 3


def make_documents(collection: Collection, user: Any, n: int, prefix: str) -> list[Document]:
    return [
        ingest_bytes(collection, user, f"{prefix} {i}\n\n{TEXT}".encode(), f"{prefix}-{i}.txt")
        for i in range(n)
    ]


@pytest.mark.django_db
def test_expired_documents_are_destroyed_everywhere_and_recorded(
    alice: Any, collection_a: Collection, collection_b: Collection, bob: Any
) -> None:
    with_inventory(collection_a, retention_days=30)
    old = make_documents(collection_a, alice, 2, "eski")
    fresh = make_documents(collection_a, alice, 1, "yeni")
    other = make_documents(collection_b, bob, 1, "baska")  # collection B keeps 3650 days
    Document.objects.filter(pk__in=[d.pk for d in old + other]).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    chunk = Chunk.objects.filter(document=old[0]).first()
    assert chunk is not None
    conversation = Conversation.objects.create(user=alice, title="q")
    answer = Answer.objects.create(conversation=conversation, question="q", text="a [1]")
    Citation.objects.create(
        answer=answer, n=1, chunk=chunk, document=old[0], title=old[0].title, snippet=chunk.text
    )
    assert all(storage.read_document(d) for d in old)

    preview = retention_preview()
    assert [row["document_id"] for row in preview] == [d.pk for d in old]
    assert retention_run(dry_run=True).documents == preview
    run = retention_run()
    assert sorted(d["document_id"] for d in run.documents) == sorted(d.pk for d in old)

    old_ids = [d.pk for d in old]
    assert not Document.objects.filter(pk__in=old_ids).exists()
    assert not Chunk.objects.filter(document_id__in=old_ids).exists()
    assert not SubjectMention.objects.filter(document_id__in=old_ids).exists()
    citation = Citation.objects.get(answer=answer)
    assert citation.snippet == "" and citation.chunk_id is None and citation.document_id is None
    records = DestructionRecord.objects.filter(run_id=run.run_id).order_by("document_id")
    assert [r.document_id for r in records] == sorted(old_ids)
    assert all(r.reason == "retention" and r.chunks > 0 and len(r.document_sha256) == 64 for r in records)
    assert all(r.keep_until - r.destroyed_at >= timedelta(days=3 * 365) for r in records)
    event = AuditEvent.objects.get(action="retention.run", target_id=run.run_id)
    assert sorted(event.details["documents"]) == sorted(old_ids)
    # Unexpired documents, and other collections' within their own period, are untouched.
    assert Document.objects.filter(pk__in=[d.pk for d in fresh + other]).count() == 2
    assert Chunk.objects.filter(document__in=fresh + other).count() == sum(
        d.chunk_count for d in fresh + other
    )
    # Idempotent: a second run finds nothing.
    assert retention_run().documents == [] and retention_preview() == []
    assert audit_verify().ok


@pytest.mark.django_db
def test_frozen_time_past_the_period_destroys_documents_of_today(
    alice: Any, collection_a: Collection
) -> None:
    with_inventory(collection_a, retention_days=7)
    documents = make_documents(collection_a, alice, 1, "today")
    assert retention_run(now=timezone.now() + timedelta(days=6)).documents == []
    assert len(retention_run(now=timezone.now() + timedelta(days=8)).documents) == 1
    assert not Document.objects.filter(pk=documents[0].pk).exists()


@pytest.mark.django_db
def test_destruction_records_cannot_be_changed_or_deleted_early(alice: Any, collection_a: Collection) -> None:
    with_inventory(collection_a, retention_days=1)
    make_documents(collection_a, alice, 1, "x")
    retention_run(now=timezone.now() + timedelta(days=2))
    record = DestructionRecord.objects.get()
    for statement in (
        "UPDATE governance_destructionrecord SET chunks = 0",
        "DELETE FROM governance_destructionrecord",
    ):
        with (
            pytest.raises(DatabaseError, match="destruction record"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert DestructionRecord.objects.get().chunks == record.chunks


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_time_destroy_each_document_once(alice: Any, collection_a: Collection) -> None:
    with_inventory(collection_a, retention_days=1)
    documents = make_documents(collection_a, alice, 4, "many")
    later = timezone.now() + timedelta(days=2)
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(retention_run(now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    destroyed = [d["document_id"] for r in results for d in r.documents]
    assert sorted(destroyed) == sorted(d.pk for d in documents)  # each exactly once, whoever did it
    assert DestructionRecord.objects.count() == 4
    assert not Document.objects.exists()


@pytest.mark.django_db
def test_retention_command_dry_run_and_run(alice: Any, collection_a: Collection) -> None:
    with_inventory(collection_a, retention_days=5)
    make_documents(collection_a, alice, 1, "cmd")
    at = (timezone.now() + timedelta(days=6)).isoformat()
    out = io.StringIO()
    call_command("retention", "--dry-run", "--at", at, stdout=out)
    assert "would destroy 1 document(s)" in out.getvalue()
    assert Document.objects.count() == 1
    out = io.StringIO()
    call_command("retention", stdout=out)  # nothing expired today
    assert "destroyed 0 document(s)" in out.getvalue()


@pytest.mark.django_db
def test_retention_page_shows_the_dry_run_and_runs_it(
    alice: Any, carol: Any, collection_a: Collection
) -> None:
    from django.contrib.auth.models import Group
    from django.test import Client

    from governance.roles import COMPLIANCE_GROUP

    with_inventory(collection_a, retention_days=10)
    documents = make_documents(collection_a, alice, 2, "page")
    Document.objects.filter(pk=documents[0].pk).update(created_at=timezone.now() - timedelta(days=11))
    browser = Client()
    browser.force_login(alice)
    assert browser.get("/compliance/retention/").status_code == 403
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    browser.force_login(carol)
    page = browser.get("/compliance/retention/").content.decode()
    assert f'data-document="{documents[0].pk}"' in page and f'data-document="{documents[1].pk}"' not in page
    ran = browser.post("/compliance/retention/").content.decode()
    assert "Destroyed 1 document(s)" in ran and "retention" in ran
    assert list(Document.objects.values_list("pk", flat=True)) == [documents[1].pk]
    bare = Collection.objects.create(name="Bare", owner=alice)
    Document.objects.filter(pk=documents[1].pk).update(collection=bare)
    assert "has no retention period" in browser.get("/compliance/retention/").content.decode()
    inventory = browser.get("/compliance/inventory/").content.decode()
    assert f'data-collection="{collection_a.pk}"' in inventory and "legitimate_interest" in inventory


@pytest.mark.django_db
def test_idle_conversations_are_destroyed_after_their_own_period(alice: Any, settings: Any) -> None:
    old = Conversation.objects.create(user=alice, title="old")
    Answer.objects.create(conversation=old, question="q", text="a")
    recent = Conversation.objects.create(user=alice, title="recent")
    Conversation.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=400))
    assert retention_run(dry_run=True).conversations == 1
    settings.CONVERSATION_RETENTION_DAYS = 0  # kept
    assert retention_run().conversations == 0 and Conversation.objects.count() == 2
    settings.CONVERSATION_RETENTION_DAYS = 365
    run = retention_run()
    assert run.conversations == 1
    assert list(Conversation.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Answer.objects.filter(conversation_id=old.pk).exists()
    assert AuditEvent.objects.get(action="retention.run", target_id=run.run_id).details["conversations"] == 1
