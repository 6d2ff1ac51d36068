"""The portal's server-rendered pages: login required, owners only, the right collections, both languages."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from governance.models import CollectionGrant
from governance.roles import COMPLIANCE_GROUP
from rag.models import Collection
from rag.services import answers
from tests.conftest import with_inventory
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(client: Client) -> Client:
    return client


@pytest.mark.parametrize("path", ["/", "/c/1/", "/documents/", "/documents/1/", "/upload/"])
def test_pages_need_login(web: Client, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 302 and response["Location"] == f"/login/?next={path}"


def test_login_page_logs_in_and_out(web: Client, alice: Any) -> None:
    alice.set_password("s3cret-pass")
    alice.save()
    assert web.get("/login/").status_code == 200
    failed = web.post("/login/", {"username": "alice", "password": "wrong"})
    assert "did not match" in failed.content.decode()
    assert web.post("/login/", {"username": "alice", "password": "s3cret-pass"})["Location"] == "/"
    assert web.get("/").status_code == 200
    assert web.post("/logout/")["Location"] == "/login/"
    assert web.get("/").status_code == 302


def test_login_page_costs_no_query_and_pages_show_the_sidebar(
    web: Client, alice: Any, carol: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):  # the portal's context processor is lazy for anonymous visitors
        login = web.get("/login/").content.decode()
    assert 'id="conversation-list"' not in login
    web.force_login(alice)
    page = web.get("/documents/").content.decode()
    assert 'id="conversation-list"' in page and 'id="ui-strings"' in page
    assert 'href="/compliance/"' not in page
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    web.force_login(carol)
    assert 'href="/compliance/"' in web.get("/documents/").content.decode()
    assert web.get("/documents/", {"collection": "no such"}).status_code == 404


def test_conversation_page_is_only_for_its_owner(
    web: Client, settings: Any, alice: Any, bob: Any, collection_a: Collection
) -> None:
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    ingest_bytes(collection_a, alice, b"Lentil soup on Mondays.", "menu.txt")
    answer = answers.answer_complete(
        prepared=answers.answer_prepare(user=alice, question="gluon confinement")
    )
    web.force_login(alice)
    page = web.get(f"/c/{answer.conversation_id}/").content.decode()
    assert "gluon confinement" in page and "Not found in the documents you can access." in page
    web.force_login(bob)
    assert web.get(f"/c/{answer.conversation_id}/").status_code == 404
    assert "gluon confinement" not in web.get("/").content.decode()


def test_document_pages_follow_the_access_rules(
    web: Client, alice: Any, bob: Any, collection_a: Collection, collection_b: Collection
) -> None:
    document = ingest_bytes(collection_a, alice, b"Quarterly ledger balanced.", "ledger.txt", title="Ledger")
    web.force_login(bob)
    assert web.get(f"/documents/{document.pk}/").status_code == 404
    assert "Ledger" not in web.get("/documents/").content.decode()
    upload = web.get("/upload/").content.decode()

    def option(collection: Collection) -> str:
        return f'<option value="{collection.pk}">{collection.name}</option>'

    assert option(collection_b) in upload and option(collection_a) not in upload
    CollectionGrant.objects.create(
        collection=collection_a, user=bob, permission=CollectionGrant.Permission.READ
    )
    page = web.get(f"/documents/{document.pk}/").content.decode()
    assert "Quarterly ledger balanced." in page
    assert option(collection_a) not in web.get("/upload/").content.decode()  # reading is not writing


def test_portal_speaks_turkish_after_switching(web: Client, alice: Any) -> None:
    web.force_login(alice)
    assert "Ask your documents" in web.get("/").content.decode()
    response = web.post("/i18n/setlang/", {"language": "tr", "next": "/"})
    assert response.status_code == 302
    page = web.get("/").content.decode()
    assert 'lang="tr"' in page and "Belgelerinize sorun" in page and "Ask your documents" not in page


def test_a_new_user_creates_a_collection_on_the_upload_page(web: Client, alice: Any) -> None:
    web.force_login(alice)
    first = web.get("/upload/").content.decode()
    assert "Create one below" in first and 'id="upload-form"' not in first
    response = web.post("/upload/", {"name": "  Contracts "})
    collection = Collection.objects.get(name="Contracts")
    assert collection.owner == alice
    # First its records-of-processing entry: until it is complete, the collection takes no uploads.
    assert response["Location"] == f"/collections/{collection.pk}/processing/"
    assert "Incomplete" in web.get(response["Location"]).content.decode()
    assert "takes no uploads until" in web.get("/upload/").content.decode()
    with_inventory(collection)
    page = web.get(f"/upload/?collection={collection.pk}").content.decode()
    assert f'<option value="{collection.pk}" selected>Contracts</option>' in page
    assert "takes no uploads until" not in page
    taken = web.post("/upload/", {"name": "Contracts"})
    assert taken.status_code == 400 and "already exists" in taken.content.decode()
    assert web.post("/upload/", {"name": "  "}).status_code == 400


def test_document_page_offers_delete_only_to_writers_and_the_page_deletes_through_the_api(
    alice: Any, bob: Any, collection_a: Collection
) -> None:
    document = ingest_bytes(collection_a, alice, b"Quarterly ledger balanced.", "ledger.txt", title="Ledger")
    CollectionGrant.objects.create(
        collection=collection_a, user=bob, permission=CollectionGrant.Permission.READ
    )
    reader, owner = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    reader.force_login(bob)
    owner.force_login(alice)
    page_for_reader = reader.get(f"/documents/{document.pk}/")
    assert 'id="delete-document"' not in page_for_reader.content.decode()
    page = owner.get(f"/documents/{document.pk}/")
    assert 'id="delete-document"' in page.content.decode()
    # After deleting, the page goes back to the documents list (the portal page, not the API's route).
    assert 'data-next="/documents/"' in page.content.decode()
    assert '<a href="/documents/"' in page.content.decode()  # the header's "Documents" link too
    # What the page's script sends: the session cookie and the CSRF token from that session's cookie.
    reader_token, owner_token = reader.cookies["csrftoken"].value, owner.cookies["csrftoken"].value
    refused = reader.delete(f"/api/v1/documents/{document.pk}", HTTP_X_CSRFTOKEN=reader_token)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "You may read this collection but not delete its documents."
    assert owner.delete(f"/api/v1/documents/{document.pk}").status_code == 403  # no CSRF token: refused
    assert owner.delete(f"/api/v1/documents/{document.pk}", HTTP_X_CSRFTOKEN=owner_token).status_code == 204
    assert owner.get(f"/documents/{document.pk}/").status_code == 404
