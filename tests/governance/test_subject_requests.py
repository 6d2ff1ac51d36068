"""Data-subject requests: access export and erasure, found through the subject index and the exact search,
over several documents and collections (also in a table and in upper case); the receipt, the audit chain and
crypto-shredding. Processing runs in this process; tests/e2e/test_subject_requests_api.py runs it through
the API and a real Celery worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from governance.audit import Actor, audit_verify
from governance.compliance.subjects import (
    SubjectRequestError,
    identifiers_clean,
    subject_find,
    subject_refs,
    subject_request_approve,
    subject_request_create,
    subject_request_process,
)
from governance.models import (
    AuditEvent,
    DestructionRecord,
    RedactionPolicy,
    SubjectKey,
    SubjectMention,
    SubjectRequest,
)
from governance.pii.redaction import pseudonym
from governance.roles import COMPLIANCE_GROUP
from rag import selectors
from rag.models import Answer, Chunk, Citation, Collection, Conversation, Document
from rag.services.search import governed_question, scope_for
from tests.conftest import with_inventory
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db


def tckn(first9: str) -> str:
    d = [int(c) for c in first9]
    d10 = (7 * (d[0] + d[2] + d[4] + d[6] + d[8]) - (d[1] + d[3] + d[5] + d[7])) % 10
    d11 = (sum(d) + d10) % 10
    return f"{first9}{d10}{d11}"


AYSE = {
    "tckn": "10000000146",
    "email": "ayse.yilmaz@example.com",
    "phone": "0532 123 45 67",
    "iban": "TR33 0006 1005 1978 6457 8413 26",
    "name": "Ayşe Yılmaz",
}
MEHMET = {"tckn": tckn("123456789"), "email": "mehmet.demir@example.org", "name": "Mehmet Demir"}
FILLER = "\n\n".join(
    f"Madde {i}. Kredi değerlendirme süreci, şube onayı ve belge kontrolü adımlarıyla yürütülür."
    for i in range(30)
)

AYSE_LETTER = (
    "Kredi başvurusu dosyası\n\n"
    f"Müşteri Ayşe Yılmaz, T.C. kimlik no {AYSE['tckn']}, e-posta {AYSE['email']}, telefon {AYSE['phone']}. "
    "Başvurusu değerlendirildi ve kredi limiti onaylandı; ödeme planı sarı zarfla gönderildi.\n\n" + FILLER
)
# Upper case, inside a table, in another collection whose policy hashes national ids.
AYSE_TABLE = f"ad_soyad,tckn,iban,sehir\nAYŞE YILMAZ,{AYSE['tckn']},{AYSE['iban']},Ankara\n" + "".join(
    f"ürün-{i},stok,{100 + i},depo\n" for i in range(3)
)
MEHMET_LETTER = (
    "Mevduat hesabı açılışı\n\n"
    f"Müşteri Mehmet Demir, T.C. kimlik no {MEHMET['tckn']}, e-posta {MEHMET['email']}. Vadeli hesap açıldı.\n\n"
    + FILLER
)


@pytest.fixture
def officers(carol: Any, django_user_model: Any) -> tuple[Any, Any]:
    group = Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0]
    dave = django_user_model.objects.create_user(username="dave", password="pw-dave-123")
    carol.groups.add(group)
    dave.groups.add(group)
    return carol, dave


def actor(user: Any) -> Actor:
    return Actor(user_id=user.pk, role="compliance_officer")


@pytest.fixture
def seeded(alice: Any, bob: Any, collection_a: Collection, collection_b: Collection) -> dict[str, Any]:
    RedactionPolicy.objects.create(collection=collection_b, rules={"TCKN": "hash"})
    ayse_a = ingest_bytes(collection_a, alice, AYSE_LETTER.encode(), "kredi.txt")
    ayse_b = ingest_bytes(collection_b, bob, AYSE_TABLE.encode(), "musteriler.csv")
    mehmet_a = ingest_bytes(collection_a, alice, MEHMET_LETTER.encode(), "mevduat.txt")
    mehmet_b = ingest_bytes(
        collection_b, bob, MEHMET_LETTER.replace("Mevduat", "Yatırım").encode(), "yatirim.txt"
    )
    for document in (ayse_a, ayse_b, mehmet_a, mehmet_b):
        assert document.status == Document.Status.READY, document.error
    # A cached answer that quoted Ayşe's passage, and one about Mehmet.
    cached = {}
    for name, user, document in (("ayse", alice, ayse_a), ("mehmet", alice, mehmet_a)):
        person = AYSE["name"] if name == "ayse" else MEHMET["name"]
        question = governed_question(scope=scope_for(user=user), question=f"{person} için ne karar verildi?")
        conversation = Conversation.objects.create(user=user, title=question[:200])
        answer = Answer.objects.create(conversation=conversation, question=question, text="Onaylandı [1].")
        chunk = Chunk.objects.filter(document=document).order_by("ordinal").first()
        assert chunk is not None
        Citation.objects.create(
            answer=answer, n=1, chunk=chunk, document=document, title=document.title, snippet=chunk.text[:300]
        )
        cached[name] = answer
    return {"ayse": [ayse_a, ayse_b], "mehmet": [mehmet_a, mehmet_b], "answers": cached}


def test_identifiers_are_validated_with_clear_messages() -> None:
    with pytest.raises(SubjectRequestError) as error:
        identifiers_clean({"tckn": "12345678901", "email": "nope", "name": "Ayşe", "shoe": "42"})
    assert set(error.value.errors) == {"tckn", "email", "name", "shoe"}
    assert "checksum" in error.value.errors["tckn"] and "full name" in error.value.errors["name"]
    assert identifiers_clean({"tckn": " 100 000 001 46 ", "email": ["a@b.co", "a@b.co"]}) == {
        "tckn": ["100 000 001 46"],
        "email": ["a@b.co"],
    }


def test_subject_is_found_by_index_and_exact_search_everywhere(seeded: dict[str, Any]) -> None:
    found = subject_find(identifiers_clean(AYSE))
    documents = set(Chunk.objects.filter(pk__in=found.chunks).values_list("document_id", flat=True))
    assert documents == {d.pk for d in seeded["ayse"]}
    # The upper-case row of the table is found whichever way the recogniser read it.
    table_chunks = set(Chunk.objects.filter(document=seeded["ayse"][1]).values_list("pk", flat=True))
    assert found.chunks & table_chunks
    # The hashed TCKN of collection B is found by the exact search too (its pseudonym in the text).
    assert found.by_exact & table_chunks
    assert found.answers == {seeded["answers"]["ayse"].pk}
    assert found.conversations == {seeded["answers"]["ayse"].conversation_id}
    mehmet = subject_find(identifiers_clean(MEHMET))
    assert not (mehmet.chunks & found.chunks)


def test_access_export_holds_every_occurrence_and_nothing_of_others(
    seeded: dict[str, Any], officers: tuple[Any, Any], alice: Any, client_for: Callable[[Any], APIClient]
) -> None:
    carol, _dave = officers
    # alice retrieves one of Ayşe's passages: the export names her as someone who accessed it.
    hits = client_for(alice).post(
        "/api/v1/search", {"query": "kredi limiti onaylandı sarı zarf"}, format="json"
    )
    assert hits.status_code == 200
    before = timezone.now()
    request = subject_request_create(kind="access", identifiers=AYSE, user=carol, actor=actor(carol))
    after = timezone.now()
    assert request.status == SubjectRequest.Status.QUEUED
    assert before + timedelta(days=30) <= request.due_at <= after + timedelta(days=30)
    done = subject_request_process(request_id=request.pk)
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED
    export = done.result
    assert {d["document_id"] for d in export["documents"]} == {d.pk for d in seeded["ayse"]}
    expected_chunks = subject_find(identifiers_clean(AYSE)).chunks
    assert {p["chunk_id"] for d in export["documents"] for p in d["passages"]} == expected_chunks
    assert {c["collection_id"] for c in export["collections"]} == {
        seeded["ayse"][0].collection_id,
        seeded["ayse"][1].collection_id,
    }
    assert all(c["purpose"] and c["legal_basis"] for c in export["collections"])
    assert export["held_since"] and export["summary"]["questions_and_answers"] == 1
    assert any(a["user"] == "alice" and a["action"] == "search" for a in export["accessed"])
    dumped = json.dumps(export, ensure_ascii=False)
    for value in (*MEHMET.values(), pseudonym("TCKN", MEHMET["tckn"]), "Mehmet", "MEHMET"):
        assert value not in dumped
    assert not {d.pk for d in seeded["mehmet"]} & {d["document_id"] for d in export["documents"]}
    # Closed: the identifiers are wiped; what stays is types and per-subject pseudonyms.
    assert done.sealed_identifiers == ""
    assert set(done.identifier_types) == {"TCKN", "EMAIL", "PHONE", "IBAN", "PERSON"}


def test_erasure_removes_everything_about_the_subject_and_proves_it(
    seeded: dict[str, Any],
    officers: tuple[Any, Any],
    alice: Any,
    bob: Any,
    client_for: Callable[[Any], APIClient],
) -> None:
    carol, dave = officers
    identifiers = identifiers_clean(AYSE)
    before = subject_find(identifiers)
    erased_chunks = set(before.chunks)
    mehmet_before = subject_find(identifiers_clean(MEHMET))
    mehmet_chunks = set(Chunk.objects.filter(document__in=seeded["mehmet"]).values_list("pk", flat=True))
    semantic = "kredi limiti onaylandı ödeme planı sarı zarfla gönderildi"
    assert erased_chunks & {h.chunk_id for h in selectors.chunk_search(user=alice, query=semantic, k=5)}

    request = subject_request_create(kind="erasure", identifiers=AYSE, user=carol, actor=actor(carol))
    assert request.status == SubjectRequest.Status.AWAITING_APPROVAL  # DSR_ERASURE_APPROVAL is on by default
    with pytest.raises(SubjectRequestError, match="second compliance officer"):
        subject_request_approve(request=request, user=carol, actor=actor(carol))
    old_refs = request.subject_refs
    subject_request_approve(request=request, user=dave, actor=actor(dave))
    done = subject_request_process(request_id=request.pk, actor=actor(dave))
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED, done.error

    # Zero hits: subject index, exact search, and the search API by each identifier and by meaning.
    after = subject_find(identifiers)
    assert after.total() == 0
    assert not SubjectMention.objects.filter(chunk_id__in=erased_chunks).exists()
    assert not Chunk.objects.filter(pk__in=erased_chunks).exists()  # the rows, so their vectors too
    for user in (alice, bob):
        for query in (*AYSE.values(), "AYŞE YILMAZ", semantic):
            hits = (
                client_for(user)
                .post("/api/v1/search", {"query": query, "k": 20}, format="json")
                .json()["results"]
            )
            assert not erased_chunks & {h["chunk_id"] for h in hits}
            assert not any(pseudonym("TCKN", AYSE["tckn"]) in h["text"] for h in hits)
    # The cached answer and its conversation that quoted her are gone; Mehmet's stays whole.
    assert not Answer.objects.filter(pk=seeded["answers"]["ayse"].pk).exists()
    assert not Conversation.objects.filter(pk=seeded["answers"]["ayse"].conversation_id).exists()
    assert Citation.objects.filter(answer=seeded["answers"]["mehmet"]).exclude(snippet="").count() == 1
    # Other subjects untouched.
    assert (
        set(Chunk.objects.filter(document__in=seeded["mehmet"]).values_list("pk", flat=True)) == mehmet_chunks
    )
    assert subject_find(identifiers_clean(MEHMET)).chunks == mehmet_before.chunks
    # The letter keeps its other passages (erasure scope "chunks"), without its source file.
    letter = Document.objects.get(pk=seeded["ayse"][0].pk)
    assert letter.chunk_count == Chunk.objects.filter(document=letter).count() > 0 and letter.file_path == ""

    receipt = done.result
    assert receipt["counts"]["chunks"] == len(erased_chunks) and receipt["counts"]["answers"] == 1
    assert receipt["counts"]["subject_index_rows"] >= len(before.by_index) > 0
    assert receipt["verification"] == {
        **receipt["verification"],
        "subject_index_hits": 0,
        "exact_search_hits": 0,
        "other_hits": 0,
    }
    assert receipt["approved_by"] == dave.pk and receipt["requested_by"] == carol.pk
    assert len(receipt["chunks"]) == len(erased_chunks) and all(
        len(c["sha256"]) == 64 for c in receipt["chunks"]
    )
    event = AuditEvent.objects.get(action="subject_request.erasure_receipt", target_id=str(request.pk))
    assert (
        event.details["chunks_digest"] == receipt["chunks_digest"]
        and event.details["counts"] == receipt["counts"]
    )
    for value in AYSE.values():
        assert value not in json.dumps(
            list(AuditEvent.objects.values("details")), ensure_ascii=False, default=str
        )
    # The table of collection B had one passage, all hers: that document went whole, and it is recorded.
    assert receipt["counts"]["documents_destroyed"] == 1 and receipt["counts"]["documents_redacted"] == 1
    assert (
        DestructionRecord.objects.get(reason="erasure", run_id=f"erasure-{request.pk}").document_id
        == seeded["ayse"][1].pk
    )

    # Crypto-shredding: the subject's pseudonym keys are gone, the audit rows naming them stay and verify.
    assert not SubjectKey.objects.exists() or subject_refs(identifiers, create=False) == {}
    assert AuditEvent.objects.filter(action="subject_request.create", details__subject=old_refs).exists()
    assert audit_verify().ok
    fresh = subject_refs(identifiers, create=True)
    assert fresh and all(set(fresh[t]).isdisjoint(old_refs[t]) for t in fresh)


def test_document_scope_erases_whole_documents_and_records_it(
    seeded: dict[str, Any], officers: tuple[Any, Any], settings: Any
) -> None:
    settings.DSR_ERASURE_APPROVAL = False
    carol, _dave = officers
    with_inventory(seeded["ayse"][0].collection, erasure_scope="document")
    # An answer that cited another passage of her letter (one that does not mention her).
    mentioning = subject_find(identifiers_clean(AYSE)).chunks
    other = Chunk.objects.filter(document=seeded["ayse"][0]).exclude(pk__in=mentioning).last()
    assert other is not None
    conversation = Conversation.objects.create(user=seeded["ayse"][0].uploaded_by, title="süreç")
    unrelated = Answer.objects.create(
        conversation=conversation, question="Süreç nasıl?", text="Şube onayı [1]."
    )
    Citation.objects.create(
        answer=unrelated,
        n=1,
        chunk=other,
        document=seeded["ayse"][0],
        title="kredi",
        snippet=other.text[:300],
    )
    request = subject_request_create(kind="erasure", identifiers=AYSE, user=carol, actor=actor(carol))
    assert request.status == SubjectRequest.Status.QUEUED
    done = subject_request_process(request_id=request.pk)
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED
    assert not Document.objects.filter(pk=seeded["ayse"][0].pk).exists()
    record = DestructionRecord.objects.get(document_id=seeded["ayse"][0].pk)
    assert record.reason == "erasure" and record.chunks > 1
    assert Document.objects.filter(pk__in=[d.pk for d in seeded["mehmet"]]).count() == 2
    # That answer stays; its copy of the destroyed passage does not.
    kept = Citation.objects.get(answer=unrelated)
    assert kept.snippet == "" and kept.chunk_id is None and kept.title == "[destroyed]"


def test_only_compliance_officers_open_requests(
    alice: Any, officers: tuple[Any, Any], client_for: Callable[[Any], APIClient]
) -> None:
    carol, dave = officers
    assert (
        client_for(alice)
        .post("/api/v1/subject-requests", {"kind": "access", "identifiers": AYSE}, format="json")
        .status_code
        == 403
    )
    bad = client_for(carol).post(
        "/api/v1/subject-requests", {"kind": "access", "identifiers": {"tckn": "1"}}, format="json"
    )
    assert bad.status_code == 400 and "tckn" in bad.json()["errors"]
    created = client_for(carol).post(
        "/api/v1/subject-requests", {"kind": "erasure", "identifiers": AYSE}, format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "status", "due_at"} and body["status"] == "awaiting_approval"
    same = client_for(carol).post(f"/api/v1/subject-requests/{body['id']}/approve", {}, format="json")
    assert same.status_code == 409
    shown = client_for(dave).get(f"/api/v1/subject-requests/{body['id']}").json()
    assert shown["status"] == "awaiting_approval" and shown["overdue"] is False and shown["receipt"] is None
    assert client_for(alice).get(f"/api/v1/subject-requests/{body['id']}").status_code == 403
    # Nothing the officer typed is stored in clear.
    stored = SubjectRequest.objects.get(pk=body["id"])
    assert all(
        value not in json.dumps(stored.__dict__, default=str, ensure_ascii=False) for value in AYSE.values()
    )


def test_overdue_requests_are_flagged(
    officers: tuple[Any, Any], client_for: Callable[[Any], APIClient]
) -> None:
    carol, _dave = officers
    request = subject_request_create(
        kind="erasure", identifiers={"email": "x@y.com"}, user=carol, actor=actor(carol)
    )
    SubjectRequest.objects.filter(pk=request.pk).update(due_at=timezone.now() - timedelta(days=1))
    listed = client_for(carol).get("/api/v1/subject-requests?overdue=1").json()["results"]
    assert [r["id"] for r in listed] == [request.pk] and listed[0]["overdue"] is True
    browser = Client()
    browser.force_login(carol)
    page = browser.get("/compliance/requests/")
    assert page.status_code == 200 and b'class="overdue"' in page.content


@pytest.mark.parametrize(
    ("identifiers", "text", "matches"),
    [
        ({"phone": "0532 123 45 67"}, "Tel: (0532) 123 45 67.", True),
        ({"phone": "0532 123 45 67"}, "GSM +90 532 123 4567", True),
        ({"phone": "+905321234567"}, "arayın 05321234567 numarasını", True),
        ({"phone": "0532 123 45 67"}, "kod 153212345670", False),
        ({"email": "ali@x.com"}, "yazın: ali@x.com.", True),
        ({"email": "ali@x.com"}, "yazın: mehmet.ali@x.com", False),
        ({"email": "ali@x.com"}, "yazın: ali@x.com.tr", False),
        ({"name": "Ayşe Yılmaz"}, "AYSE  YILMAZ imzaladı", True),
        ({"name": "Ayşe Yılmaz"}, "Ayşegül Yılmaz imzaladı", False),
        ({"tckn": "10000000146"}, "TC: 100 000 001 46", True),
        ({"tckn": "10000000146"}, "no 910000000146", False),
        ({"iban": "TR33 0006 1005 1978 6457 8413 26"}, "iban tr33-0006-1005-1978-6457-8413-26", True),
    ],
)
def test_exact_search_matches_other_spellings_and_only_whole_values(
    identifiers: dict[str, str], text: str, matches: bool
) -> None:
    from django.db import connection

    from governance.compliance.subjects import identifier_patterns

    pattern = "|".join(f"({p})" for p in identifier_patterns(identifiers_clean(identifiers)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s ~* %s", [text, pattern])
        assert cursor.fetchone()[0] is matches


def test_erasure_by_name_alone_is_refused(officers: tuple[Any, Any]) -> None:
    carol, _dave = officers
    with pytest.raises(SubjectRequestError, match="namesakes"):
        subject_request_create(
            kind="erasure", identifiers={"name": "Ayşe Yılmaz"}, user=carol, actor=actor(carol)
        )
    assert subject_request_create(
        kind="access", identifiers={"name": "Ayşe Yılmaz"}, user=carol, actor=actor(carol)
    )


def test_erasure_also_takes_unprocessed_files_and_earlier_exports(
    seeded: dict[str, Any], officers: tuple[Any, Any], alice: Any, collection_a: Collection, settings: Any
) -> None:
    import io

    from rag import storage
    from rag.services.documents import document_create

    settings.DSR_ERASURE_APPROVAL = False
    carol, _dave = officers
    # Uploaded but not processed yet (a worker will pick it up): only its stored file mentions her.
    waiting, _ = document_create(
        collection=collection_a,
        uploaded_by=alice,
        stream=io.BytesIO(f"Dilekçe: {AYSE['email']}".encode()),
        filename="d.txt",
    )
    failed, _ = document_create(
        collection=collection_a,
        uploaded_by=alice,
        stream=io.BytesIO(f"Not: {AYSE['tckn']}".encode()),
        filename="f.txt",
    )
    Document.objects.filter(pk=failed.pk).update(status=Document.Status.FAILED, error="parser gave up")
    unrelated, _ = document_create(
        collection=collection_a, uploaded_by=alice, stream=io.BytesIO(b"Toplanti notlari"), filename="n.txt"
    )
    access = subject_request_create(kind="access", identifiers=AYSE, user=carol, actor=actor(carol))
    exported = subject_request_process(request_id=access.pk)
    assert exported is not None
    held = {d["document_id"]: d for d in exported.result["documents"]}
    assert held[waiting.pk]["status"] == "queued" and held[waiting.pk]["passages"] == []
    assert unrelated.pk not in held
    named = {k: AYSE[k] for k in ("tckn", "email", "name")}  # not her phone and IBAN this time
    erasure = subject_request_create(kind="erasure", identifiers=named, user=carol, actor=actor(carol))
    done = subject_request_process(request_id=erasure.pk)
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED, done.error
    assert not Document.objects.filter(pk__in=[waiting.pk, failed.pk]).exists()
    assert Document.objects.filter(pk=unrelated.pk).exists()
    assert done.result["counts"]["access_exports_wiped"] == 1
    # The access request also named her phone and IBAN, which the erasure did not: their keys go too.
    assert subject_refs(identifiers_clean({"phone": AYSE["phone"], "iban": AYSE["iban"]}), create=False) == {}
    assert SubjectRequest.objects.get(pk=access.pk).result == {
        "erased": True,
        "by_erasure_request": erasure.pk,
    }
    assert storage.read_document(unrelated)


def test_damaged_failed_files_are_reported_unsearchable_and_exports_by_other_identifiers_wiped(
    seeded: dict[str, Any], officers: tuple[Any, Any], alice: Any, collection_a: Collection, settings: Any
) -> None:
    import io

    from rag.services.documents import document_create

    settings.DSR_ERASURE_APPROVAL = False
    carol, _dave = officers
    # A "PDF" that failed ingestion and whose bytes are not text: it cannot be ruled out, so it is reported.
    broken, _ = document_create(
        collection=collection_a,
        uploaded_by=alice,
        stream=io.BytesIO(b"%PDF-1.4\n\x9c\xff\xfe\x00\x81"),
        filename="b.pdf",
    )
    Document.objects.filter(pk=broken.pk).update(status=Document.Status.FAILED, error="damaged")
    # An access request made with her e-mail only; the erasure later names her TCKN and name.
    access = subject_request_create(
        kind="access", identifiers={"email": AYSE["email"]}, user=carol, actor=actor(carol)
    )
    exported = subject_request_process(request_id=access.pk)
    assert exported is not None and exported.result["summary"]["passages"] > 0
    assert [d["document_id"] for d in exported.result["unsearchable_documents"]] == [broken.pk]
    erasure = subject_request_create(
        kind="erasure",
        identifiers={"tckn": AYSE["tckn"], "name": AYSE["name"]},
        user=carol,
        actor=actor(carol),
    )
    done = subject_request_process(request_id=erasure.pk)
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED, done.error
    assert [d["document_id"] for d in done.result["unsearchable_documents"]] == [broken.pk]
    assert Document.objects.filter(pk=broken.pk).exists()  # left for an officer to check
    # The earlier export held passages this erasure removed: wiped, and its e-mail pseudonym key shredded.
    assert SubjectRequest.objects.get(pk=access.pk).result == {
        "erased": True,
        "by_erasure_request": erasure.pk,
    }
    assert subject_refs(identifiers_clean({"email": AYSE["email"]}), create=False) == {}
