"""Redaction inside ingestion and answering, per collection policy; the subject index; the policy and analyze
APIs. Ingestion runs in this process here (the worker path is covered by tests/e2e/test_pii_canary.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from governance.models import RedactionPolicy, SubjectMention
from governance.pii.redaction import pseudonym, subject_key
from rag.models import Chunk, Collection, Document
from rag.services import answers
from tests.rag.helpers import ingest_bytes

pytestmark = pytest.mark.django_db

TCKN = "10000000146"
EMAIL = "ayse.kaya@firma.com.tr"
LETTER = (
    f"Sayın Ayşe Kaya,\n\nT.C. kimlik no {TCKN} ile yaptığınız başvuru alınmıştır. Yanıtımız {EMAIL} "
    "adresine gönderilecektir.\n\n"
    + "\n\n".join(
        f"Madde {i}. Başvurunun değerlendirilmesi için gereken belgeler listelenmiştir." for i in range(40)
    )
    + f"\n\nEk: kimlik numarası {TCKN} olan başvuru sahibinin dilekçesi ({EMAIL})."
)


def chunks_of(document: Document) -> list[Chunk]:
    return list(Chunk.objects.filter(document=document).order_by("ordinal"))


def set_policy(collection: Collection, rules: dict[str, str]) -> None:
    RedactionPolicy.objects.update_or_create(collection=collection, defaults={"rules": rules})


def test_default_policy_stores_masked_chunks_numbered_per_document(
    alice: Any, collection_a: Collection
) -> None:
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "Ayşe Kaya başvuru.txt")
    chunks = chunks_of(document)
    assert len(chunks) > 1
    text = "\n".join(c.text for c in chunks)
    assert TCKN not in text and EMAIL not in text and "Ayşe Kaya" not in text
    # The same TCKN in the first and the last chunk: the same placeholder.
    assert "<TCKN_1>" in chunks[0].text and "<TCKN_1>" in chunks[-1].text and "<TCKN_2>" not in text
    assert "<EMAIL_1>" in chunks[-1].text and "<PERSON_1>" in chunks[0].text
    assert document.title == "<PERSON_1> başvuru"  # the title from the file name, redacted too


def test_subject_index_finds_the_chunks_by_value_never_storing_it(
    alice: Any, collection_a: Collection
) -> None:
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    chunks = chunks_of(document)
    mentions = SubjectMention.objects.filter(subject=subject_key("TCKN", TCKN))
    assert {m.chunk_id for m in mentions} == {chunks[0].pk, chunks[-1].pk}
    assert {m.entity_type for m in mentions} == {"TCKN"}
    # Any spelling of the e-mail address leads to the same chunks.
    assert SubjectMention.objects.filter(subject=subject_key("EMAIL", EMAIL.upper())).exists()
    assert not SubjectMention.objects.filter(subject__in=[TCKN, EMAIL]).exists()
    # Re-ingestion replaces the rows with the chunks.
    Document.objects.filter(pk=document.pk).update(status=Document.Status.QUEUED)
    from rag.services.ingest import document_ingest

    document_ingest(document_id=document.pk, task_id="again")
    assert SubjectMention.objects.filter(subject=subject_key("TCKN", TCKN)).count() == 2


def test_keep_policy_keeps_the_value_and_still_indexes_it(alice: Any, collection_a: Collection) -> None:
    set_policy(collection_a, {"EMAIL": "keep"})
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    text = "\n".join(c.text for c in chunks_of(document))
    assert EMAIL in text and TCKN not in text
    assert SubjectMention.objects.filter(subject=subject_key("EMAIL", EMAIL), document=document).exists()


def test_hash_policy_gives_the_same_pseudonym_in_every_document(alice: Any, collection_a: Collection) -> None:
    set_policy(collection_a, {"TCKN": "hash"})
    one = ingest_bytes(collection_a, alice, LETTER.encode(), "one.txt")
    two = ingest_bytes(collection_a, alice, f"Kimlik: {TCKN}. Başka bir dosya.".encode(), "two.txt")
    token = f"<TCKN_{pseudonym('TCKN', TCKN)}>"
    assert token in chunks_of(one)[0].text and token in chunks_of(two)[0].text


def test_drop_policy_removes_the_value(alice: Any, collection_a: Collection) -> None:
    set_policy(collection_a, {"TCKN": "drop", "EMAIL": "drop"})
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    text = "\n".join(c.text for c in chunks_of(document))
    assert TCKN not in text and "<TCKN" not in text and "<EMAIL" not in text
    assert SubjectMention.objects.filter(subject=subject_key("TCKN", TCKN), document=document).exists()


def test_the_question_is_redacted_before_search_storage_and_prompt(
    alice: Any, collection_a: Collection, llm: str
) -> None:
    ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    prepared = answers.answer_prepare(
        user=alice, question=f"{TCKN} numaralı başvuru için hangi belgeler gerekli?"
    )
    assert TCKN not in prepared.question and f"<TCKN_{pseudonym('TCKN', TCKN)}>" in prepared.question
    assert prepared.sources and all(TCKN not in s.text for s in prepared.sources)
    prompt = str(prepared.messages)
    assert TCKN not in prompt and EMAIL not in prompt


def test_chunks_stored_before_redaction_are_redacted_before_the_prompt(
    alice: Any, collection_a: Collection, llm: str
) -> None:
    """Defence in depth: a chunk that holds raw data (ingested before this feature, or edited in the
    database) is redacted on its way into the prompt."""
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    Chunk.objects.filter(document=document).update(text=f"Başvuru belgeleri: kimlik {TCKN}, e-posta {EMAIL}.")
    prepared = answers.answer_prepare(user=alice, question="Başvuru belgeleri nelerdir?")
    assert prepared.sources
    assert all(TCKN not in s.text and EMAIL not in s.text for s in prepared.sources)
    assert f"<TCKN_{pseudonym('TCKN', TCKN)}>" in prepared.sources[0].text


# --- APIs -------------------------------------------------------------------------------------------------


def test_analyze_returns_entities_and_redacted_text(
    alice: Any, client_for: Callable[[Any], APIClient]
) -> None:
    cache.clear()
    text = f"T.C. KİMLİK NO: {TCKN}, e-posta {EMAIL}"
    response = client_for(alice).post("/api/v1/pii/analyze", {"text": text, "language": "tr"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["redacted_text"] == "T.C. KİMLİK NO: <TCKN_1>, e-posta <EMAIL_1>"
    assert [(e["type"], text[e["start"] : e["end"]], e["action"]) for e in body["entities"]] == [
        ("TCKN", TCKN, "mask"),
        ("EMAIL", EMAIL, "mask"),
    ]
    assert all(0.5 <= e["score"] <= 1 for e in body["entities"])


def test_analyze_previews_a_readable_collections_policy_only(
    alice: Any, bob: Any, collection_a: Collection, client_for: Callable[[Any], APIClient]
) -> None:
    cache.clear()
    set_policy(collection_a, {"EMAIL": "keep", "TCKN": "hash"})
    payload = {"text": f"{TCKN} {EMAIL}", "collection": collection_a.pk}
    body = client_for(alice).post("/api/v1/pii/analyze", payload, format="json").json()
    # The preview does not reveal the pseudonym of what someone typed (it would let them test guesses).
    assert body["redacted_text"] == f"<TCKN_pseudonym> {EMAIL}"
    assert pseudonym("TCKN", TCKN) not in str(body)
    assert client_for(bob).post("/api/v1/pii/analyze", payload, format="json").status_code == 404


def test_analyze_needs_authentication_valid_input_and_is_rate_limited(
    alice: Any, client_for: Callable[[Any], APIClient], settings: Any
) -> None:
    cache.clear()
    assert APIClient().post("/api/v1/pii/analyze", {"text": "x"}, format="json").status_code == 401
    client = client_for(alice)
    assert (
        client.post("/api/v1/pii/analyze", {"text": "x", "language": "de"}, format="json").status_code == 400
    )
    too_long = "a" * (settings.PII_ANALYZE_MAX_CHARS + 1)
    assert client.post("/api/v1/pii/analyze", {"text": too_long}, format="json").status_code == 400
    from rest_framework.throttling import ScopedRateThrottle

    cache.clear()
    # A day-long window: the four requests cannot drift out of it, however slow the machine.
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "pii_analyze": "3/day"}
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = rates
    try:
        codes = [
            client.post("/api/v1/pii/analyze", {"text": "x"}, format="json").status_code for _ in range(4)
        ]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert codes == [200, 200, 200, 429]


def test_policy_api_readers_see_admins_change_and_documents_are_reingested(
    alice: Any,
    bob: Any,
    collection_a: Collection,
    client_for: Callable[[Any], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    url = f"/api/v1/collections/{collection_a.pk}/redaction-policy"
    shown = client_for(alice).get(url).json()
    assert shown["rules"]["TCKN"] == "mask" and "PERSON" in shown["entity_types"]
    assert client_for(bob).get(url).status_code == 404
    assert client_for(alice).put(url, {"rules": {"EMAIL": "keep"}}, format="json").status_code == 403

    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    bad = client_for(alice).put(url, {"rules": {"PASSPORT": "keep"}}, format="json")
    assert bad.status_code == 400 and "Unknown entity type" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        changed = client_for(alice).put(url, {"rules": {"EMAIL": "keep"}}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["rules"]["EMAIL"] == "keep" and changed.json()["documents_requeued"] == 1
    assert len(callbacks) == 1  # the ingest task is sent after commit
    assert Document.objects.get(pk=document.pk).status == Document.Status.QUEUED

    from rag.services.ingest import document_ingest

    document_ingest(document_id=document.pk, task_id="after-policy-change")
    assert EMAIL in "\n".join(c.text for c in chunks_of(document))


# --- portal page ------------------------------------------------------------------------------------------


def test_privacy_page_shows_the_policy_to_readers_and_lets_administrators_change_it(
    client: Any, alice: Any, bob: Any, collection_a: Collection, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/collections/{collection_a.pk}/privacy/"
    assert client.get(url).status_code == 302  # login first
    client.force_login(bob)
    assert client.get(url).status_code == 404  # bob cannot read collection A
    client.force_login(alice)
    page = client.get(url).content.decode()
    assert 'data-action="TCKN">mask<' in page and "pii-preview" in page and '<select name="TCKN"' not in page
    assert client.post(url, {"EMAIL": "keep"}).status_code == 403

    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    assert '<select name="TCKN"' in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        saved = client.post(url, {"EMAIL": "keep", "TCKN": "hash"})
    assert saved.status_code == 200
    assert RedactionPolicy.objects.get(collection=collection_a).rules == {
        **{t: "mask" for t in ("VKN", "IBAN", "CREDIT_CARD", "PHONE", "PERSON", "DATE_OF_BIRTH")},
        **{t: "mask" for t in ("TR_PLATE", "IP_ADDRESS", "US_SSN")},
        "EMAIL": "keep",
        "TCKN": "hash",
    }
    assert client.post(url, {"EMAIL": "publish"}).status_code == 400


def test_file_names_and_titles_are_redacted_at_upload(alice: Any, collection_a: Collection) -> None:
    import io

    from rag.services.documents import document_create

    document, _ = document_create(
        collection=collection_a,
        uploaded_by=alice,
        stream=io.BytesIO(b"Yillik izin talebi."),
        filename=f"Ayşe_Kaya_{TCKN}.txt",
    )
    assert TCKN not in document.original_filename + document.title
    assert "Kaya" not in document.original_filename + document.title
    assert document.original_filename.endswith(".txt") and "<TCKN_1>" in document.original_filename
    plain, _ = document_create(
        collection=collection_a, uploaded_by=alice, stream=io.BytesIO(b"Other."), filename="travel_policy.txt"
    )
    assert plain.original_filename == "travel_policy.txt"
    for name in (f"cv-{TCKN}.pdf", "Ayse-Kaya-basvuru.pdf", f"TC{TCKN}_bordro.pdf"):
        document, _ = document_create(
            collection=collection_a, uploaded_by=alice, stream=io.BytesIO(name.encode()), filename=name
        )
        assert TCKN not in document.original_filename + document.title, name
        assert "Kaya" not in document.original_filename + document.title, name
        assert document.original_filename.endswith(".pdf")


def test_search_results_and_document_pages_do_not_show_chunks_kept_under_an_older_policy(
    alice: Any, collection_a: Collection, client_for: Callable[[Any], APIClient], client: Any
) -> None:
    set_policy(collection_a, {"EMAIL": "keep"})
    document = ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    assert EMAIL in "\n".join(c.text for c in chunks_of(document))
    set_policy(collection_a, {})  # back to mask; the document waits to be processed again
    found = client_for(alice).post(
        "/api/v1/search", {"query": "başvuru belgeleri dilekçe", "k": 50}, format="json"
    )
    assert found.status_code == 200 and found.json()["results"]
    assert EMAIL not in found.content.decode()
    client.force_login(alice)
    page = client.get(f"/documents/{document.pk}/").content.decode()
    assert EMAIL not in page and "&lt;EMAIL_" in page


def test_literal_markers_in_a_document_are_not_taken_for_ours(alice: Any, collection_a: Collection) -> None:
    set_policy(collection_a, {"EMAIL": "keep", "TCKN": "drop"})
    text = f"Şablon: <EMAIL_k1> ve <TCKN_d2> alanları. Gerçek adres {EMAIL}, kimlik {TCKN}."
    document = ingest_bytes(collection_a, alice, text.encode(), "template.txt")
    stored = chunks_of(document)[0].text
    assert "‹EMAIL_k1› ve ‹TCKN_d2›" in stored and EMAIL in stored and TCKN not in stored
    assert SubjectMention.objects.filter(document=document).count() == 2  # the real e-mail and TCKN only


def test_failure_reasons_and_feedback_comments_are_stored_redacted(
    alice: Any, collection_a: Collection
) -> None:
    from rag.services.ingest import document_mark_failed

    document = ingest_bytes(collection_a, alice, LETTER.encode(), "letter.txt")
    Document.objects.filter(pk=document.pk).update(status=Document.Status.PROCESSING, task_id="t")
    assert document_mark_failed(document_id=document.pk, reason=f"bad object 'Ayşe Kaya {TCKN}'", task_id="t")
    assert Document.objects.get(pk=document.pk).error == "bad object '<PERSON_1> <TCKN_1>'"
