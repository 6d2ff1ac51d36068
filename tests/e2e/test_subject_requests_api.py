"""Data-subject requests through the REST API, processed by a real Celery worker: an access request returns
its export, an erasure approved by a second officer returns its receipt and leaves nothing to find."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from governance.audit import audit_verify
from governance.compliance.subjects import identifiers_clean, subject_find
from governance.roles import COMPLIANCE_GROUP
from rag.models import Chunk, Collection
from tests.conftest import WorkerProcess, wait_for
from tests.rag.helpers import ingest_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SUBJECT = {"tckn": "10000000146", "email": "zeynep.arslan@example.com", "name": "Zeynep Arslan"}
LETTER = (
    "İşe alım dosyası\n\nAday Zeynep Arslan (T.C. kimlik no 10000000146, zeynep.arslan@example.com) mülakata "
    "katıldı ve teklif kabul edildi.\n\n"
    + "\n\n".join(f"Bölüm {i}. Oryantasyon programı ve ekipman teslimi planlandı." for i in range(20))
)


def wait_done(client: APIClient, request_id: int) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/subject-requests/{request_id}").json()
        return body if body["status"] in {"completed", "failed", "rejected"} else None

    return wait_for(
        finished,
        what=f"subject request {request_id} to finish",
        state=lambda: client.get(f"/api/v1/subject-requests/{request_id}").json()["status"],
    )


def test_access_then_erasure_through_the_api_and_the_worker(
    celery_worker: WorkerProcess,
    alice: Any,
    carol: Any,
    django_user_model: Any,
    collection_a: Collection,
    client_for: Callable[[Any], APIClient],
) -> None:
    group = Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0]
    dave = django_user_model.objects.create_user(username="dave", password="pw-dave-123")
    carol.groups.add(group)
    dave.groups.add(group)
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "ise-alim.txt")
    found = subject_find(identifiers_clean(SUBJECT)).chunks
    assert found

    officer = client_for(carol)
    erasure = officer.post(
        "/api/v1/subject-requests", {"kind": "erasure", "identifiers": SUBJECT}, format="json"
    )
    request_id = erasure.json()["id"]
    assert erasure.json()["status"] == "awaiting_approval"

    created = officer.post(
        "/api/v1/subject-requests", {"kind": "access", "identifiers": SUBJECT}, format="json"
    )
    assert created.status_code == 201 and created.json()["status"] == "queued"
    export = wait_done(officer, created.json()["id"])
    assert export["status"] == "completed", export["error"]
    held = {p["chunk_id"] for d in export["export"]["documents"] for p in d["passages"]}
    assert held == found and export["export"]["documents"][0]["document_id"] == document.pk

    # The worker takes its queue in order: having answered the access request, it would have run anything
    # sent for the erasure before it. The erasure still waits for a second officer.
    assert officer.get(f"/api/v1/subject-requests/{request_id}").json()["status"] == "awaiting_approval"
    approved = client_for(dave).post(f"/api/v1/subject-requests/{request_id}/approve", {}, format="json")
    assert approved.status_code == 200
    done = wait_done(officer, request_id)
    assert done["status"] == "completed", done["error"]
    receipt = done["receipt"]
    assert receipt["counts"]["chunks"] == len(found)
    assert receipt["verification"]["subject_index_hits"] == receipt["verification"]["exact_search_hits"] == 0
    assert not Chunk.objects.filter(pk__in=found).exists()
    assert subject_find(identifiers_clean(SUBJECT)).total() == 0
    for query in (*SUBJECT.values(), "işe alım mülakat teklif"):
        hits = client_for(alice).post("/api/v1/search", {"query": query}, format="json").json()["results"]
        assert not found & {h["chunk_id"] for h in hits}
    assert audit_verify().ok
