"""Every audited action writes exactly one event, with the actor, role, correlation id and no raw personal
data; the compliance officer's API and pages read, verify and export the trail; nobody else can."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from governance.audit import audit_record, verify_export
from governance.models import AuditEvent
from governance.roles import COMPLIANCE_GROUP
from rag.models import Answer, Chunk, Collection, Conversation
from rag.services.answers import chunk_version
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

ApiClients = Callable[[Any], APIClient]
TCKN = "10000000146"


def actions() -> list[tuple[str, str]]:
    return list(AuditEvent.objects.order_by("seq").values_list("action", "outcome"))


@pytest.fixture
def officer(carol: Any) -> Any:
    # get_or_create: a transactional test elsewhere may have flushed the group the migration made.
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    return carol


def test_login_and_failed_login(client: Client, alice: Any) -> None:
    alice.set_password("right-pass-1")
    alice.save()
    client.post("/login/", {"username": "alice", "password": "wrong"})
    client.post("/login/", {"username": "alice", "password": "right-pass-1"})
    assert actions() == [("login", "denied"), ("login", "ok")]
    failed, ok = AuditEvent.objects.order_by("seq")
    assert "alice" not in json.dumps(failed.details) and len(failed.details["username"]) == 16
    assert ok.actor_user_id == alice.pk and ok.role == "employee" and len(ok.ip) == 16


def test_upload_ingest_search_view_delete_each_write_one_event(
    alice: Any, collection_a: Collection, client_for: ApiClients
) -> None:
    client = client_for(alice)
    upload = client.post(
        "/api/v1/documents",
        {
            "file": SimpleUploadedFile("kestrel.txt", b"The Kestrel launch code is BLUEFIN-4471."),
            "collection": "A",
        },
        format="multipart",
        HTTP_X_REQUEST_ID="6a1e0c2b-1111-4c7b-9e2f-0a1b2c3d4e5f",
    )
    assert upload.status_code == 202
    from rag.services.ingest import document_ingest

    document_ingest(document_id=upload.json()["id"], task_id="t")
    client.post("/api/v1/search", {"query": f"Kestrel launch code {TCKN}"}, format="json")
    client.get(f"/api/v1/documents/{upload.json()['id']}")
    client.delete(f"/api/v1/documents/{upload.json()['id']}")
    assert actions() == [
        ("document.upload", "ok"),
        ("document.ingest", "ok"),
        ("search", "ok"),
        ("document.view", "ok"),
        ("document.delete", "ok"),
    ]
    events = list(AuditEvent.objects.order_by("seq"))
    assert (
        events[0].correlation_id == "6a1e0c2b-1111-4c7b-9e2f-0a1b2c3d4e5f"
        and events[0].actor_user_id == alice.pk
    )
    assert events[1].role == "system" and events[1].details["chunks"] >= 1
    assert events[2].details["chunks"] and TCKN not in json.dumps(events[2].details)
    assert all(e.collection_id == collection_a.pk for e in events if e.action.startswith("document."))


def test_failed_ingestion_is_audited_as_failed(alice: Any, collection_a: Collection) -> None:
    ingest_bytes(collection_a, alice, b"", "empty.txt")
    assert actions()[-1] == ("document.ingest", "failed")


def test_ask_records_provenance(
    alice: Any, collection_a: Collection, client_for: ApiClients, settings: Any
) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # not found needs no model
    client_for(alice).post("/api/v1/ask", {"question": "Unrelated lighthouse keeper schedule"}, format="json")
    (event,) = AuditEvent.objects.filter(action="ask")
    assert event.details["not_found"] is True and event.details["readable_collections"] == [collection_a.pk]
    assert event.target_type == "answer"


def test_policy_change_is_audited(alice: Any, collection_a: Collection, client_for: ApiClients) -> None:
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    url = f"/api/v1/collections/{collection_a.pk}/redaction-policy"
    assert client_for(alice).put(url, {"rules": {"EMAIL": "keep"}}, format="json").status_code == 200
    (event,) = AuditEvent.objects.filter(action="policy.change")
    assert event.details["rules"]["EMAIL"] == "keep" and event.role == "admin"


def test_only_compliance_officers_read_verify_and_export(
    alice: Any, officer: Any, collection_a: Collection, client_for: ApiClients, tmp_path: Path
) -> None:
    alice.is_staff = True  # an administrator is not a compliance officer
    alice.save(update_fields=["is_staff"])
    for url in ("/api/v1/audit/events", "/api/v1/audit/verify", "/api/v1/audit/export"):
        assert client_for(alice).get(url).status_code == 403, url
    ingest_bytes(collection_a, alice, b"Audit me please.", "a.txt")
    officer_client = client_for(officer)
    listed = officer_client.get("/api/v1/audit/events", {"action": "document."}).json()["results"]
    assert [e["action"] for e in listed] == ["document.ingest", "document.upload"]
    assert officer_client.get("/api/v1/audit/events", {"from": "yesterday"}).status_code == 400
    verified = officer_client.get("/api/v1/audit/verify").json()
    # The three refusals above (access.denied), the two document events and the officer's listing (audit.read).
    assert verified["ok"] is True and verified["rows"] == 6

    export = officer_client.get("/api/v1/audit/export", {"type": "json"})
    assert export.status_code == 200 and verify_export(json.loads(export.content)).ok
    csv_export = officer_client.get("/api/v1/audit/export", {"type": "csv"})
    path = tmp_path / "audit.csv"
    path.write_bytes(csv_export.content)
    from governance.management.commands.audit_verify import load_export

    assert verify_export(load_export(path)).ok
    assert [a for a, _ in actions()][-3:] == ["audit.verify", "audit.export", "audit.export"]


def test_compliance_pages(
    client: Client, alice: Any, officer: Any, collection_a: Collection, client_for: ApiClients, settings: Any
) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    client_for(alice).post("/api/v1/ask", {"question": "Unrelated lighthouse keeper schedule"}, format="json")
    client.force_login(alice)
    assert client.get("/compliance/").status_code == 403
    client.force_login(officer)
    page = client.get("/compliance/", {"action": "ask"}).content.decode()
    assert "audit-table" in page and ">ask<" in page
    seq = AuditEvent.objects.get(action="ask").seq
    detail = client.get(f"/compliance/events/{seq}/").content.decode()
    assert "Unrelated lighthouse keeper schedule" in detail and "drilldown" in detail
    verified = client.post("/compliance/").content.decode()
    assert 'id="verify-result"' in verified and "Intact" in verified


def test_drill_down_shows_each_passage_as_it_is_now_in_one_query(
    client: Client, alice: Any, officer: Any, collection_a: Collection
) -> None:
    plain = Chunk.objects.get(document=ingest_bytes(collection_a, alice, b"Harbour logbook rota.", "a.txt"))
    edited = Chunk.objects.get(document=ingest_bytes(collection_a, alice, b"Pier lamp inventory.", "b.txt"))
    health = "Sağlık raporu: çalışana tip 2 diyabet teşhisi kondu, insülin tedavisi görüyor."
    special = Chunk.objects.get(document=ingest_bytes(collection_a, alice, health.encode(), "c.txt"))
    assert special.special_categories
    answer = Answer.objects.create(
        conversation=Conversation.objects.create(user=alice, title="q"), question="Who keeps the logbook?"
    )

    def ref(chunk_id: int, text: str) -> dict[str, Any]:
        return {"chunk_id": chunk_id, "version": chunk_version(text)}

    def drill_down(*refs: dict[str, Any]) -> tuple[str, int]:
        event = audit_record(
            action="ask", target_type="answer", target_id=answer.pk, details={"chunks": list(refs)}
        )
        with CaptureQueriesContext(connection) as queries:
            page = client.get(f"/compliance/events/{event.seq}/").content.decode()
        return page, len(queries)

    client.force_login(officer)
    _, one_passage = drill_down(ref(plain.pk, plain.text))
    page, four_passages = drill_down(
        ref(plain.pk, plain.text),
        ref(edited.pk, "Pier lamp inventory, as it was."),
        ref(special.pk, special.text),
        ref(10**9, "deleted"),
    )
    assert four_passages == one_passage  # the passages come in one query, however many there are
    assert "Harbour logbook rota." in page and "Pier lamp inventory." in page
    assert page.count("changed since") == 1 and page.count("deleted since") == 1
    # Special-category passages need the special grant, officer or not.
    assert "[special-category passage]" in page and "diyabet" not in page


def test_correlation_ids_from_callers_are_taken_only_when_they_are_uuids(
    alice: Any, collection_a: Collection, client_for: ApiClients
) -> None:
    client = client_for(alice)
    client.post("/api/v1/search", {"query": "x"}, format="json", HTTP_X_REQUEST_ID=TCKN)
    client.post(
        "/api/v1/search",
        {"query": "y"},
        format="json",
        HTTP_X_REQUEST_ID="3f2b8c1e-5d4a-4c7b-9e2f-0a1b2c3d4e5f",
    )
    first, second = AuditEvent.objects.order_by("seq")
    assert first.correlation_id != TCKN and len(first.correlation_id) == 32
    assert second.correlation_id == "3f2b8c1e-5d4a-4c7b-9e2f-0a1b2c3d4e5f"
