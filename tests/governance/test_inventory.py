"""Records of processing: uploads refused without a complete entry, the collection API accepts and returns it,
who may change it, and the CSV/JSON export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from governance.inventory import InventoryIncomplete
from governance.models import AuditEvent, CollectionGrant
from governance.roles import COMPLIANCE_GROUP
from rag.models import Collection, Document
from tests.conftest import INVENTORY
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db


def officer(user: Any) -> Any:
    user.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    return user


def test_upload_without_inventory_is_refused_with_a_clear_message(
    alice: Any, client_for: Callable[[Any], APIClient]
) -> None:
    bare = Collection.objects.create(name="Bare", owner=alice)
    with pytest.raises(InventoryIncomplete, match="purpose, legal basis"):
        ingest_bytes(bare, alice, b"text", "a.txt")
    response = client_for(alice).post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile("a.txt", b"hello"), "collection": "Bare"},
        format="multipart",
    )
    assert response.status_code == 409
    assert (
        "records of processing" in response.json()["detail"]
        and f"/collections/{bare.pk}/processing/" in response.json()["detail"]
    )
    assert not Document.objects.exists()
    # Partly filled: still refused, naming what is missing.
    client_for(alice).put(f"/api/v1/collections/{bare.pk}/inventory", {"purpose": "HR files"}, format="json")
    with pytest.raises(InventoryIncomplete, match="retention period") as error:
        ingest_bytes(bare, alice, b"text", "a.txt")
    assert "purpose" not in str(error.value).split("missing:")[1]


def test_collection_api_accepts_and_returns_the_entry(
    alice: Any, client_for: Callable[[Any], APIClient]
) -> None:
    created = client_for(alice).post(
        "/api/v1/collections", {"name": "HR", "inventory": INVENTORY}, format="json"
    )
    assert created.status_code == 201, created.content
    entry = created.json()["inventory"]
    assert entry["complete"] is True and entry["missing"] == []
    assert {k: entry[k] for k in INVENTORY} == INVENTORY
    assert entry["gdpr_basis"].startswith("Art. 6(1)(f)")
    listed = client_for(alice).get("/api/v1/collections").json()["results"]
    assert listed[0]["inventory"]["legal_basis"] == "legitimate_interest"
    # Upload now works.
    upload = client_for(alice).post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile("a.txt", b"hello"), "collection": "HR"},
        format="multipart",
    )
    assert upload.status_code == 202
    bad = client_for(alice).post(
        "/api/v1/collections",
        {"name": "X", "inventory": {**INVENTORY, "legal_basis": "because", "retention_days": 0}},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]["inventory"]) == {"legal_basis", "retention_days"}
    assert not Collection.objects.filter(name="X").exists()
    bare = client_for(alice).post("/api/v1/collections", {"name": "Y"}, format="json").json()
    assert bare["inventory"]["complete"] is False and "purpose" in bare["inventory"]["missing"]


def test_who_may_change_an_entry(
    alice: Any, bob: Any, carol: Any, collection_a: Collection, client_for: Callable[[Any], APIClient]
) -> None:
    url = f"/api/v1/collections/{collection_a.pk}/inventory"
    assert client_for(bob).get(url).status_code == 404  # cannot read the collection
    CollectionGrant.objects.create(collection=collection_a, user=bob, permission="read")
    assert client_for(bob).get(url).json()["purpose"] == INVENTORY["purpose"]
    assert client_for(bob).put(url, {"retention_days": 1}, format="json").status_code == 403
    changed = client_for(alice).put(url, {"retention_days": 365, "recipients": ["auditors"]}, format="json")
    assert changed.status_code == 200 and changed.json()["retention_days"] == 365
    assert changed.json()["purpose"] == INVENTORY["purpose"]  # fields not given keep their value
    officer(carol)
    assert (
        client_for(carol).put(url, {"special_categories": True}, format="json").json()["special_categories"]
        is True
    )
    event = AuditEvent.objects.filter(action="inventory.set").last()
    assert event is not None and event.details["changed"] == ["special_categories"]


def test_inventory_export_csv_and_json(
    alice: Any,
    carol: Any,
    collection_a: Collection,
    collection_b: Collection,
    client_for: Callable[[Any], APIClient],
) -> None:
    Collection.objects.create(name="Empty", owner=alice)
    assert client_for(alice).get("/api/v1/inventory").status_code == 403
    officer(carol)
    data = client_for(carol).get("/api/v1/inventory?type=json").json()["collections"]
    assert [row["collection"] for row in data] == ["A", "B", "Empty"]
    assert data[0]["complete"] and not data[2]["complete"]
    text = client_for(carol).get("/api/v1/inventory?type=csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["legal_basis"] == "legitimate_interest" and rows[0]["recipients"] == "internal staff"
    assert rows[2]["complete"] == "False" or rows[2]["complete"] == "false"
    out = io.StringIO()
    call_command("inventory", "--format", "csv", stdout=out)
    assert out.getvalue() == text


def test_processing_page_saves_the_entry(alice: Any, bob: Any) -> None:
    collection = Collection.objects.create(name="Portal", owner=alice)
    browser = Client()
    browser.force_login(alice)
    page = browser.get(f"/collections/{collection.pk}/processing/")
    assert page.status_code == 200 and b"Incomplete" in page.content
    saved = browser.post(
        f"/collections/{collection.pk}/processing/",
        {
            "purpose": "Payroll",
            "legal_basis": "legal_obligation",
            "data_subject_categories": "employees\nformer employees",
            "data_categories": "identity\nfinance",
            "recipients": "tax office",
            "retention_days": "3650",
            "erasure_scope": "chunks",
        },
    )
    assert saved.status_code == 200 and b"Complete: the collection takes uploads." in saved.content
    assert Collection.objects.get(pk=collection.pk).processing.data_subject_categories == [
        "employees",
        "former employees",
    ]
    other = Client()
    other.force_login(bob)
    assert other.get(f"/collections/{collection.pk}/processing/").status_code == 404


def test_ingest_command_needs_an_inventory_to_create(tmp_path: Any, alice: Any) -> None:
    (tmp_path / "a.txt").write_text("text")
    with pytest.raises(CommandError, match="records of processing"):
        call_command(
            "ingest", str(tmp_path), "--collection", "New", "--user", "alice", "--create", "--no-wait"
        )
    inventory = tmp_path / "inventory.json"
    import json

    inventory.write_text(json.dumps(INVENTORY))
    call_command(
        "ingest", str(tmp_path / "a.txt"), "--collection", "New2", "--user", "alice", "--create",
        "--inventory", str(inventory), "--no-wait", stdout=io.StringIO(),
    )  # fmt: skip
    assert Document.objects.filter(collection__name="New2").count() == 1


def test_admin_edits_the_entry_through_the_service(admin_client: Any, collection_a: Collection) -> None:
    from governance.models import ProcessingRecord

    record = ProcessingRecord.objects.get(collection=collection_a)
    url = f"/admin/governance/processingrecord/{record.pk}/change/"
    assert admin_client.get(url).status_code == 200
    form = {
        "collection": collection_a.pk,
        "purpose": "Audit",
        "legal_basis": "contract",
        "data_subject_categories": '["customers"]',
        "data_categories": '["contact"]',
        "recipients": '["auditors"]',
        "retention_days": "90",
        "erasure_scope": "document",
    }
    assert admin_client.post(url, {**form, "retention_days": "0"}).status_code == 200  # form error, not a 500
    assert admin_client.post(url, form).status_code == 302
    record.refresh_from_db()
    assert (
        record.retention_days == 90
        and record.erasure_scope == "document"
        and record.recipients == ["auditors"]
    )
    assert AuditEvent.objects.filter(action="inventory.set", target_id=str(collection_a.pk)).exists()
    assert admin_client.get("/admin/governance/subjectrequest/").status_code == 200
    assert admin_client.get("/admin/governance/destructionrecord/").status_code == 200
