"""Special categories of personal data (KVKK Art. 6): detected or declared chunks are flagged, retrieved only
with a ``special`` grant (in the search SQL, the document page included), and every such retrieval is flagged
in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.test import APIClient

from governance.models import AuditEvent, CollectionGrant
from governance.special import special_categories_in
from rag import selectors
from rag.models import Chunk, Collection
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

HEALTH = "Sağlık raporu: çalışana tip 2 diyabet teşhisi kondu, insülin tedavisi görüyor. Kan grubu A Rh+."
PLAIN = (
    "Yıllık izin planı: çalışanlar izin taleplerini şubat ayı sonuna kadar iletir. İzin takvimi paylaşılır."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEALTH, ["health"]),
        ("Adli sicil kaydı: hırsızlıktan MAHKUMİYET.", ["criminal"]),
        ("The applicant was diagnosed with depression; union member since 2019.", ["health", "union"]),
        ("Parmak izi ile giriş sistemi kuruldu.", ["biometric"]),
        (PLAIN, []),
        ("Our health insurance policy covers all staff.", []),
    ],
)
def test_detection(text: str, expected: list[str]) -> None:
    assert special_categories_in(text) == expected


def test_special_chunks_are_invisible_without_the_grant(
    alice: Any, bob: Any, collection_a: Collection, client_for: Callable[[Any], APIClient]
) -> None:
    health = ingest_bytes(collection_a, alice, HEALTH.encode(), "rapor.txt")
    plain = ingest_bytes(collection_a, alice, PLAIN.encode(), "izin.txt")
    declared = ingest_bytes(
        collection_a, alice, b"Toplanti notlari: butce.", "notlar.txt", special_declared=True
    )
    assert Chunk.objects.get(document=health).special_categories == ["health"]
    assert Chunk.objects.get(document=declared).special_categories == ["declared"]
    assert Chunk.objects.get(document=plain).special_categories == []
    ingest_event = AuditEvent.objects.filter(action="document.ingest", target_id=str(health.pk)).get()
    assert ingest_event.details["special_chunks"] == 1 and ingest_event.details["special_undeclared"] is True

    def found(user: Any) -> set[int]:
        hits = selectors.chunk_search(user=user, query="diyabet teşhisi sağlık raporu toplantı notları", k=10)
        return {h.document_id for h in hits}

    # The owner alone, and a reader, see only the plain document.
    CollectionGrant.objects.create(collection=collection_a, user=bob, permission="read")
    assert found(alice) == found(bob) == {plain.pk}
    browser = Client()
    browser.force_login(bob)
    page = browser.get(f"/documents/{health.pk}/")
    assert page.status_code == 200 and b"diyabet" not in page.content
    # A title naming a special category is hidden from readers without the grant (lists, API, page).
    titled = ingest_bytes(collection_a, alice, b"Mart ayi kontrol notlari.", "Psikiyatri raporu Mart.txt")
    assert titled.special_title and Chunk.objects.get(document=titled).special_categories == ["health"]
    listed = {d["id"]: d for d in client_for(bob).get("/api/v1/documents").json()["results"]}
    assert (
        listed[titled.pk]["title"] == "[special-category document]"
        and listed[titled.pk]["original_filename"] == ""
    )
    assert listed[plain.pk]["title"] == plain.title
    assert b"Psikiyatri" not in browser.get(f"/documents/{titled.pk}/").content
    assert b"Psikiyatri" not in browser.get("/documents/").content
    # A group holding the special grant on the collection: its members retrieve them, and it is flagged.
    group = Group.objects.create(name="Occupational health")
    bob.groups.add(group)
    CollectionGrant.objects.create(collection=collection_a, group=group, permission="special")
    assert found(bob) == {plain.pk, health.pk, declared.pk, titled.pk}
    assert found(alice) == {plain.pk}
    response = client_for(bob).post("/api/v1/search", {"query": "diyabet teşhisi"}, format="json")
    special_ids = set(
        Chunk.objects.filter(document__in=[health, declared, titled]).values_list("pk", flat=True)
    )
    assert special_ids & {h["chunk_id"] for h in response.json()["results"]}
    event = AuditEvent.objects.filter(action="search").last()
    assert event is not None and event.details["special_category"] is True
    assert set(event.details["special_chunks"]) <= special_ids
    flagged = set(AuditEvent.objects.filter(details__special_category=True).values_list("seq", flat=True))
    from governance.audit.selectors import audit_events

    assert (
        set(audit_events({"special": "1"}).values_list("seq", flat=True)) == flagged and event.seq in flagged
    )
    assert b"diyabet" in browser.get(f"/documents/{health.pk}/").content
    assert b"Psikiyatri raporu" in browser.get(f"/documents/{titled.pk}/").content
    view = AuditEvent.objects.filter(action="document.view", target_id=str(health.pk)).last()
    assert view is not None and view.details["special_category"] is True
    # A special grant never widens reading: without a read grant, the special grant alone gives nothing.
    stranger_group = Group.objects.create(name="special only")
    carol = type(alice).objects.create_user(username="erin", password="pw-erin-123")
    carol.groups.add(stranger_group)
    CollectionGrant.objects.create(collection=collection_a, group=stranger_group, permission="special")
    assert found(carol) == set()


def test_passages_stored_before_the_upgrade_are_flagged_by_the_migration(
    alice: Any, collection_a: Collection
) -> None:
    import importlib

    from django.apps import apps

    health = ingest_bytes(collection_a, alice, HEALTH.encode(), "rapor.txt")
    plain = ingest_bytes(collection_a, alice, PLAIN.encode(), "izin.txt")
    Chunk.objects.update(special_categories=[])  # as they were before rag 0007
    migration = importlib.import_module("rag.migrations.0009_flag_existing_special_categories")
    migration.flag(apps, None)
    assert Chunk.objects.get(document=health).special_categories == ["health"]
    assert Chunk.objects.get(document=plain).special_categories == []


def test_uploading_the_same_file_again_as_special_flags_the_existing_document(
    alice: Any, collection_a: Collection
) -> None:
    import io

    from rag.services.documents import document_create

    plain = ingest_bytes(collection_a, alice, PLAIN.encode(), "izin.txt")
    again, created = document_create(
        collection=collection_a, uploaded_by=alice, stream=io.BytesIO(PLAIN.encode()), filename="izin.txt",
        special_declared=True,
    )  # fmt: skip
    assert not created and again.pk == plain.pk and again.special_declared
    assert Chunk.objects.get(document=plain).special_categories == ["declared"]
    assert AuditEvent.objects.filter(action="document.declare_special", target_id=str(plain.pk)).exists()
