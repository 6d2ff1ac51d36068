"""Issue 13, items 7 and 8: personal data in uploaded file names and in data-subject request notes reaches the
subject index and the exact search and goes with an erasure; Turkish phone numbers whatever their mobile
prefix; special-category passages in an access export only by the officer's ``special`` grant or a second
officer's approval, audited either way."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from django.contrib.auth.models import Group

from governance.audit import Actor, audit_verify
from governance.compliance.subjects import (
    SubjectRequestError,
    identifiers_clean,
    subject_find,
    subject_request_approve,
    subject_request_create,
    subject_request_process,
    subject_request_reject,
)
from governance.models import AuditEvent, CollectionGrant, SubjectMention, SubjectRequest
from governance.pii import engine
from governance.pii.redaction import Policy, Redactor, redact_text
from governance.roles import COMPLIANCE_GROUP
from rag.models import Chunk, Collection, Document
from tests.rag.helpers import ingest_bytes

DENIZ = {"email": "deniz.korkmaz@firma.com.tr", "name": "Deniz Korkmaz"}
RAW_NAME = "cv_deniz.korkmaz@firma.com.tr.txt"
CV = (
    "Özgeçmiş\n\nYazılım geliştirme alanında on yıllık deneyim; dağıtık sistemler, veri tabanları ve "
    "ekip liderliği. Referanslar istek üzerine verilir.\n"
)


def actor(user: Any) -> Actor:
    return Actor(user_id=user.pk, role="compliance_officer")


@pytest.fixture
def officers(carol: Any, django_user_model: Any) -> tuple[Any, Any]:
    group = Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0]
    dave = django_user_model.objects.create_user(username="dave", password="pw-dave-123")
    carol.groups.add(group)
    dave.groups.add(group)
    return carol, dave


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- 8c: phones ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, phone",
    [
        ("Başvuran +90 510 925 76 88 numarasından aradı.", "+90 510 925 76 88"),
        ("Numara: 0522 987 60 76", "0522 987 60 76"),
        ("CEP: (517) 118-36-78", "(517) 118-36-78"),
        ("0090 571 222 33 44 yurt dışından", "0090 571 222 33 44"),
        ("GSM 5921183678", "5921183678"),
        ("tel 561 118 36 78", "561 118 36 78"),
    ],
)
def test_turkish_phone_shapes_are_phones_whatever_their_mobile_prefix(text: str, phone: str) -> None:
    findings = engine.analyze(text, language="tr")
    assert [(f.entity_type, text[f.start : f.end]) for f in findings if f.entity_type == "PHONE"] == [
        ("PHONE", phone)
    ]
    assert phone not in redact_text(text, language="tr")


@pytest.mark.parametrize(
    "text",
    [
        "T.C. kimlik no 10000000146",  # a TCKN stays a TCKN
        "IBAN TR33 0006 1005 1978 6457 8413 26",
        "Tutar 1.250.000,00 TL, 12.03.2024 tarihinde ödendi.",
        "Sipariş 5221 adet, fatura 2024/5171 sayılı",
        "Toplam 517 118 36 78 kalem",  # a bare shape without a phone word is not a phone
    ],
)
def test_numbers_that_are_not_phones_stay_what_they_are(text: str) -> None:
    assert not [f for f in engine.analyze(text, language="tr") if f.entity_type == "PHONE"]


# --- 8a: file names -----------------------------------------------------------------------------------------


def test_file_name_is_read_three_ways_and_every_reading_is_indexed() -> None:
    redactor = Redactor(policy=Policy.strict())
    assert redactor.redact_name(RAW_NAME) == "<EMAIL_1>.txt"
    assert redactor.redact_name("Ayse-Kaya_10000000146.pdf").endswith("_<TCKN_1>.pdf")
    assert re.fullmatch(r"<EMAIL_\d+>", redactor.redact_name("deniz@firma.com"))  # .com is no extension
    assert redactor.redact_name("rapor_2024-03.pdf") == "rapor_2024-03.pdf"
    values = {m.entity_type for m in redactor.mentions.values()}
    assert {"EMAIL", "TCKN"} <= values


@pytest.mark.django_db(transaction=True)
def test_e_mail_in_a_file_name_is_redacted_indexed_found_and_erased(
    alice: Any, collection_a: Collection, officers: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    carol, dave = officers
    caplog.set_level(logging.DEBUG)
    document = ingest_bytes(collection_a, alice, CV.encode(), RAW_NAME)
    assert document.status == Document.Status.READY, document.error
    assert document.original_filename == "<EMAIL_1>.txt"
    assert "deniz" not in document.title.lower() and "korkmaz" not in document.original_filename.lower()
    named = SubjectMention.objects.filter(document=document, chunk=None)
    assert set(named.values_list("entity_type", flat=True)) == {"EMAIL"}

    # Access: the document is found by the address in its name, though no passage mentions it.
    found = subject_find(identifiers_clean(DENIZ))
    assert found.titled_documents == {document.pk}
    access = subject_request_create(kind="access", identifiers=DENIZ, user=carol, actor=actor(carol))
    done = subject_request_process(request_id=access.pk)
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED
    assert [d["document_id"] for d in done.result["documents"]] == [document.pk]

    # Erasure: the document (name included) goes; nothing finds the subject afterwards.
    erasure = subject_request_create(
        kind="erasure", identifiers={"email": DENIZ["email"]}, user=carol, actor=actor(carol)
    )
    if erasure.status == SubjectRequest.Status.AWAITING_APPROVAL:
        subject_request_approve(request=erasure, user=dave, actor=actor(dave))
    erased = subject_request_process(request_id=erasure.pk)
    assert erased is not None and erased.status == SubjectRequest.Status.COMPLETED, erased.error
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not SubjectMention.objects.filter(document_id=document.pk).exists()
    assert subject_find(identifiers_clean(DENIZ)).total() == 0

    trail = json.dumps(list(AuditEvent.objects.values("details")), ensure_ascii=False, default=str)
    for value in ("deniz", "korkmaz", RAW_NAME):
        assert value not in trail.lower()
        assert value not in caplog.text.lower()
    assert audit_verify().ok


# --- 8b: request notes --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_request_notes_are_pseudonymised_searched_and_erased(officers: tuple[Any, Any]) -> None:
    carol, dave = officers
    note = "Başvuru dilekçesi 2024/17; ayrıca deniz.korkmaz@firma.com.tr ve 0522 987 60 76 ile iletişim"
    first = subject_request_create(
        kind="access", identifiers={"tckn": "10000000146"}, note=note, user=carol, actor=actor(carol)
    )
    stored = SubjectRequest.objects.get(pk=first.pk).note
    assert "deniz.korkmaz" not in stored and "987 60 76" not in stored
    assert stored.startswith("Başvuru dilekçesi 2024/17") and "<EMAIL_" in stored

    # A later request about that person finds the note (its pseudonym); its erasure removes it.
    assert subject_find(identifiers_clean({"email": DENIZ["email"]})).requests == {first.pk}
    assert subject_find(identifiers_clean({"phone": "+90 522 987 6076"})).requests == {first.pk}
    erasure = subject_request_create(
        kind="erasure",
        identifiers={"email": DENIZ["email"], "phone": "0522 987 60 76"},
        user=carol,
        actor=actor(carol),
    )
    if erasure.status == SubjectRequest.Status.AWAITING_APPROVAL:
        subject_request_approve(request=erasure, user=dave, actor=actor(dave))
    erased = subject_request_process(request_id=erasure.pk)
    assert erased is not None and erased.status == SubjectRequest.Status.COMPLETED, erased.error
    assert erased.result["counts"]["request_notes_redacted"] == 1
    after = SubjectRequest.objects.get(pk=first.pk).note
    assert after.startswith("Başvuru dilekçesi 2024/17") and after.count("<erased>") == 2
    assert subject_find(identifiers_clean({"email": DENIZ["email"]})).requests == set()


def test_rejection_reasons_are_pseudonymised_too(officers: tuple[Any, Any], db: Any) -> None:
    carol, _dave = officers
    request = subject_request_create(
        kind="access", identifiers={"tckn": "10000000146"}, user=carol, actor=actor(carol)
    )
    rejected = subject_request_reject(
        request=request,
        user=carol,
        actor=actor(carol),
        reason="kimlik doğrulanamadı: deniz.korkmaz@firma.com.tr",
    )
    assert "deniz.korkmaz" not in SubjectRequest.objects.get(pk=rejected.pk).error


# --- 7: special-category passages in an access export ------------------------------------------------------

SPECIAL_LETTER = (
    "Sağlık raporu\n\nÇalışan Deniz Korkmaz (deniz.korkmaz@firma.com.tr) için diyabet teşhisi konuldu; "
    "insülin tedavisi sürüyor.\n"
)
PLAIN_LETTER = "Eğitim kaydı\n\nDeniz Korkmaz (deniz.korkmaz@firma.com.tr) liderlik eğitimini tamamladı.\n"


@pytest.fixture
def special_seeded(alice: Any, collection_a: Collection) -> dict[str, Document]:
    special = ingest_bytes(collection_a, alice, SPECIAL_LETTER.encode(), "rapor.txt")
    plain = ingest_bytes(collection_a, alice, PLAIN_LETTER.encode(), "egitim.txt")
    assert Chunk.objects.filter(document=special).exclude(special_categories=[]).exists()
    assert not Chunk.objects.filter(document=plain).exclude(special_categories=[]).exists()
    return {"special": special, "plain": plain}


def _passages(export: dict[str, Any]) -> str:
    return json.dumps(export["documents"], ensure_ascii=False)


@pytest.mark.django_db
def test_officer_without_special_grant_gets_special_passages_withheld_and_audited(
    special_seeded: dict[str, Document], officers: tuple[Any, Any]
) -> None:
    carol, _dave = officers
    request = subject_request_create(kind="access", identifiers=DENIZ, user=carol, actor=actor(carol))
    done = subject_request_process(request_id=request.pk)
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED
    export = done.result
    assert "diyabet" not in _passages(export) and "liderlik" in _passages(export)
    special = export["special_categories"]
    assert special["withheld"] == 1 and special["released_by_grant"] == special["released_by_approval"] == 0
    assert "special grant" in special["reason"]
    by_id = {d["document_id"]: d for d in export["documents"]}
    assert by_id[special_seeded["special"].pk]["special_passages_withheld"] == 1
    [event] = _events("subject_request.access_special")
    assert event.details["withheld"] == 1 and event.details["approved_by"] is None
    assert "diyabet" not in json.dumps(event.details)
    [access] = _events("subject_request.access")
    assert access.details["special"]["withheld"] == 1


@pytest.mark.django_db
def test_officer_with_special_grant_gets_them_released_by_grant(
    special_seeded: dict[str, Document], officers: tuple[Any, Any], collection_a: Collection
) -> None:
    carol, _dave = officers
    for permission in ("read", "special"):
        CollectionGrant.objects.create(collection=collection_a, user=carol, permission=permission)
    request = subject_request_create(kind="access", identifiers=DENIZ, user=carol, actor=actor(carol))
    done = subject_request_process(request_id=request.pk)
    assert done is not None
    assert "diyabet" in _passages(done.result)
    assert done.result["special_categories"]["released_by_grant"] == 1
    [event] = _events("subject_request.access_special")
    assert event.details["released_by_grant"] == 1 and event.details["withheld"] == 0


@pytest.mark.django_db
def test_passages_released_by_one_officers_grant_stay_hidden_from_another_officer(
    special_seeded: dict[str, Document],
    officers: tuple[Any, Any],
    collection_a: Collection,
    client_for: Any,
    client: Any,
) -> None:
    carol, dave = officers  # carol holds the special grant; dave, another officer, does not
    for permission in ("read", "special"):
        CollectionGrant.objects.create(collection=collection_a, user=carol, permission=permission)
    request = subject_request_create(kind="access", identifiers=DENIZ, user=carol, actor=actor(carol))
    done = subject_request_process(request_id=request.pk)
    assert done is not None and "diyabet" in _passages(done.result)
    own = client_for(carol).get(f"/api/v1/subject-requests/{request.pk}").json()
    assert "diyabet" in str(own["export"])
    other = client_for(dave).get(f"/api/v1/subject-requests/{request.pk}").json()
    assert "diyabet" not in str(other["export"])
    assert other["export"]["special_categories"]["hidden_from_reader"] == 1
    client.force_login(dave)
    for url in (f"/compliance/requests/{request.pk}/", f"/compliance/requests/{request.pk}/?download=1"):
        response = client.get(url)
        assert response.status_code == 200 and "diyabet" not in response.content.decode(), url


@pytest.mark.django_db
def test_second_officer_approval_releases_special_passages(
    special_seeded: dict[str, Document], officers: tuple[Any, Any]
) -> None:
    carol, dave = officers
    request = subject_request_create(
        kind="access", identifiers=DENIZ, user=carol, actor=actor(carol), include_special=True
    )
    assert request.status == SubjectRequest.Status.AWAITING_APPROVAL
    with pytest.raises(SubjectRequestError):
        subject_request_approve(request=request, user=carol, actor=actor(carol))
    subject_request_approve(request=request, user=dave, actor=actor(dave))
    done = subject_request_process(request_id=request.pk)
    assert done is not None and done.status == SubjectRequest.Status.COMPLETED
    assert "diyabet" in _passages(done.result)
    assert done.result["special_categories"]["released_by_approval"] == 1
    [approve] = _events("subject_request.approve")
    assert approve.actor_user_id == dave.pk and approve.details["include_special"] is True
    [event] = _events("subject_request.access_special")
    assert event.details["approved_by"] == dave.pk and event.details["released_by_approval"] == 1
    assert audit_verify().ok


@pytest.mark.django_db
def test_include_special_request_is_refused_over_the_api_until_approved(
    special_seeded: dict[str, Document], officers: tuple[Any, Any], client_for: Any
) -> None:
    carol, _dave = officers
    response = client_for(carol).post(
        "/api/v1/subject-requests",
        {"kind": "access", "identifiers": DENIZ, "include_special": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "awaiting_approval"
