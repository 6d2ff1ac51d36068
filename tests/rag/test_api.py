from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from governance.models import CollectionGrant
from rag import storage
from rag.models import Chunk, Collection, Document
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

Client = Callable[[Any], APIClient]


def upload(
    client: APIClient,
    collection: Any,
    data: bytes = b"Hello world, this is a test.",
    name: str = "a.txt",
    **extra: Any,
) -> Any:
    return client.post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile(name, data), "collection": str(collection), **extra},
        format="multipart",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/collections"),
        ("post", "/api/v1/collections"),
        ("get", "/api/v1/documents"),
        ("post", "/api/v1/documents"),
        ("get", "/api/v1/documents/1"),
        ("delete", "/api/v1/documents/1"),
        ("post", "/api/v1/search"),
    ],
)
def test_unauthenticated_requests_get_401_json(method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == "Token"


def test_wrong_token_gets_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/collections").status_code == 401


def test_create_and_list_collections(alice: Any, bob: Any, client_for: Client) -> None:
    response = client_for(alice).post(
        "/api/v1/collections", {"name": "Legal", "description": "contracts"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["name"] == "Legal" and response.json()["owner"] == "alice"
    assert [c["name"] for c in client_for(alice).get("/api/v1/collections").json()["results"]] == ["Legal"]
    assert client_for(bob).get("/api/v1/collections").json()["results"] == []


def test_duplicate_collection_name_is_a_400_with_a_reason(
    alice: Any, collection_a: Collection, client_for: Client
) -> None:
    response = client_for(alice).post("/api/v1/collections", {"name": "A"}, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["detail"]


def test_missing_field_is_a_400_with_a_summary(alice: Any, client_for: Client) -> None:
    response = client_for(alice).post("/api/v1/collections", {}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "name: This field is required."


def test_upload_is_accepted_and_queued(alice: Any, collection_a: Collection, client_for: Client) -> None:
    response = upload(client_for(alice), collection_a.name, title="Greeting", language="English")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["duplicate"] is False
    document = Document.objects.get(pk=body["id"])
    assert (document.title, document.language, document.collection_id) == ("Greeting", "en", collection_a.pk)
    assert storage.read_document(document) == b"Hello world, this is a test."
    assert b"Hello world" not in (Path(settings.MEDIA_ROOT) / document.file_path).read_bytes()  # encrypted


def test_collection_can_be_named_by_id(alice: Any, collection_a: Collection, client_for: Client) -> None:
    assert upload(client_for(alice), collection_a.pk).status_code == 202


def test_same_file_twice_is_one_document(alice: Any, collection_a: Collection, client_for: Client) -> None:
    first = upload(client_for(alice), collection_a.name).json()
    second = upload(client_for(alice), collection_a.name, name="copy.txt")
    assert second.status_code == 200
    assert second.json() == {"id": first["id"], "status": "queued", "duplicate": True}
    assert Document.objects.count() == 1


@pytest.mark.parametrize("ref", ["nope", "999999", "B"])
def test_unknown_or_foreign_collection_is_404(
    alice: Any, collection_b: Collection, client_for: Client, ref: str
) -> None:
    response = upload(client_for(alice), ref)
    assert response.status_code == 404
    assert response.json()["detail"] == f"Collection {ref!r} not found."
    assert Document.objects.count() == 0


def test_reader_cannot_upload_or_delete(
    alice: Any, carol: Any, collection_a: Collection, client_for: Client
) -> None:
    CollectionGrant.objects.create(
        collection=collection_a, user=carol, permission=CollectionGrant.Permission.READ
    )
    assert upload(client_for(carol), "A").status_code == 403
    document = ingest_bytes(collection_a, alice, b"Readers can read this text.", "r.txt")
    assert client_for(carol).get(f"/api/v1/documents/{document.pk}").status_code == 200
    assert client_for(carol).delete(f"/api/v1/documents/{document.pk}").status_code == 403
    CollectionGrant.objects.create(
        collection=collection_a, user=carol, permission=CollectionGrant.Permission.UPLOAD
    )
    assert upload(client_for(carol), "A").status_code == 202


def test_oversize_upload_is_413_and_stores_nothing(
    alice: Any, collection_a: Collection, client_for: Client
) -> None:
    before = (
        sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
        if Path(settings.MEDIA_ROOT).exists()
        else []
    )
    big = b"x" * (settings.MAX_UPLOAD_MB * 1024 * 1024 + 1)
    response = upload(client_for(alice), collection_a.name, data=big, name="big.txt")
    assert response.status_code == 413
    assert "upload limit" in response.json()["detail"]
    assert Document.objects.count() == 0
    after = sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
    assert after == before


def test_oversize_detected_while_streaming_without_content_length(
    alice: Any, collection_a: Collection
) -> None:
    from rag import storage

    with pytest.raises(storage.UploadTooLarge):
        storage.store(io.BytesIO(b"y" * (settings.MAX_UPLOAD_MB * 1024 * 1024 + 10)), suffix=".txt")


def test_bad_language_is_400(alice: Any, collection_a: Collection, client_for: Client) -> None:
    response = upload(client_for(alice), collection_a.name, language="klingon")
    assert response.status_code == 400
    assert "unknown language" in response.json()["detail"]


def test_document_detail_list_and_visibility(
    alice: Any, bob: Any, collection_a: Collection, client_for: Client
) -> None:
    document = ingest_bytes(collection_a, alice, b"Text about turbines and their maintenance.", "t.txt")
    detail = client_for(alice).get(f"/api/v1/documents/{document.pk}").json()
    assert {k: detail[k] for k in ("id", "title", "collection", "status", "error", "chunk_count")} == {
        "id": document.pk,
        "title": "t",
        "collection": collection_a.pk,
        "status": "ready",
        "error": "",
        "chunk_count": 1,
    }
    assert "created_at" in detail
    listed = client_for(alice).get("/api/v1/documents", {"collection": "A"}).json()["results"]
    assert [d["id"] for d in listed] == [document.pk]
    assert client_for(bob).get(f"/api/v1/documents/{document.pk}").status_code == 404
    assert client_for(bob).get("/api/v1/documents").json()["results"] == []
    assert client_for(bob).get("/api/v1/documents", {"collection": "A"}).status_code == 404


def test_delete_removes_document_and_chunks(alice: Any, collection_a: Collection, client_for: Client) -> None:
    document = ingest_bytes(collection_a, alice, b"Turbines need oil every month.", "t.txt")
    client = client_for(alice)
    response = client.delete(f"/api/v1/documents/{document.pk}")
    assert response.status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    results = client.post("/api/v1/search", {"query": "turbine oil"}, format="json").json()["results"]
    assert results == []  # the stored file goes on commit: tests/e2e checks it with real commits


def test_search_api_returns_hits(alice: Any, collection_a: Collection, client_for: Client) -> None:
    document = ingest_bytes(
        collection_a, alice, b"The boiler room key is kept at the front desk.", "keys.txt"
    )
    response = client_for(alice).post(
        "/api/v1/search", {"query": "where is the boiler key", "k": 3}, format="json"
    )
    assert response.status_code == 200
    hit = response.json()["results"][0]
    assert hit["document_id"] == document.pk and hit["title"] == "keys" and hit["page"] is None
    assert set(hit) >= {
        "chunk_id",
        "document_id",
        "title",
        "page",
        "text",
        "score",
        "vector_rank",
        "text_rank",
    }


def test_search_validation_errors_are_json(alice: Any, client_for: Client) -> None:
    response = client_for(alice).post("/api/v1/search", {"query": "x", "k": 0}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("k:")
    response = client_for(alice).post(
        "/api/v1/search", {"query": "x", "collections": ["missing"]}, format="json"
    )
    assert response.status_code == 404


def test_unknown_api_path_is_json_404(alice: Any, client_for: Client) -> None:
    response = client_for(alice).get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_health_shows_details_only_to_signed_in_users(alice: Any, client_for: Client) -> None:
    anonymous = APIClient().get("/api/v1/health").json()
    assert set(anonymous["components"]) == {
        "database",
        "broker",
        "worker",
        "embedding_model",
        "egress",
        "llm",
        "model_gate",
    }
    assert all(set(c) == {"status"} for c in anonymous["components"].values())
    detailed = client_for(alice).get("/api/v1/health").json()
    assert detailed["components"]["database"]["status"] == "ok"
    assert detailed["components"]["embedding_model"]["dimensions"] == 384


def test_openapi_schema_and_docs_are_served_without_a_cdn(alice: Any, client_for: Client) -> None:
    schema = client_for(alice).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/documents" in schema.json()["paths"]
    docs = client_for(alice).get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "drf_spectacular_sidecar" in html


@pytest.mark.parametrize("debug", [True, False])
def test_api_errors_are_json_in_debug_mode_too(
    alice: Any, collection_a: Collection, client_for: Client, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug
    client = client_for(alice)
    missing = client.get("/api/v1/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    odd = client.get("/api/v1/documents", {"collection": "²"})
    assert odd.status_code == 404 and odd.json()["detail"] == "Collection '²' not found."
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = client.post("/api/v1/search", {"query": "x" * 2000}, format="json")
    assert (big.status_code, big.json()) == (413, {"detail": "The request body is too large."})


def test_admin_shows_staff_only_documents_they_may_read_and_deletes_through_the_service(
    alice: Any,
    bob: Any,
    collection_a: Collection,
    collection_b: Collection,
    client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    bob.is_staff = bob.is_superuser = True
    bob.save()
    mine = ingest_bytes(collection_b, bob, b"Bob's own notes about the boiler.", "b.txt")
    theirs = ingest_bytes(collection_a, alice, b"Alice's confidential notes.", "a.txt")
    client.force_login(bob)
    listing = client.get("/admin/rag/document/").content.decode()
    assert f"/admin/rag/document/{mine.pk}/change/" in listing
    assert f"/admin/rag/document/{theirs.pk}/change/" not in listing
    assert client.get(f"/admin/rag/document/{theirs.pk}/change/").status_code == 302  # "doesn't exist"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/rag/document/{mine.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Document.objects.filter(pk=mine.pk).exists()
    assert not Chunk.objects.filter(document_id=mine.pk).exists()
    assert not (Path(settings.MEDIA_ROOT) / mine.file_path).exists()
