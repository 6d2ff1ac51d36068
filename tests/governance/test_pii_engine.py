"""The PII analyzer with its real recognizers (presidio engine, no model): what it finds and what it leaves."""

from __future__ import annotations

import pytest

from governance.pii import engine

pytestmark = pytest.mark.django_db(databases=[])


def found(text: str, language: str = "tr") -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in engine.analyze(text, language=language)]


def score_of(text: str, value: str, entity_type: str) -> float:
    start = text.index(value)
    for finding in engine.analyze(text, language="tr", threshold=0.0):
        if finding.entity_type == entity_type and finding.start == start:
            return finding.score
    return 0.0


@pytest.mark.parametrize(
    ("text", "entity_type", "value"),
    [
        ("Başvuran 10000000146 numaralı vatandaş", "TCKN", "10000000146"),
        ("| 10000000146 | 2024 | onaylandı |", "TCKN", "10000000146"),  # a table cell, no context word
        ("Vergi no: 4540536920 (Kadıköy V.D.)", "VKN", "4540536920"),
        ("IBAN: TR33 0006 1005 1978 6457 8413 26", "IBAN", "TR33 0006 1005 1978 6457 8413 26"),
        ("hesap TR330006100519786457841326 adına", "IBAN", "TR330006100519786457841326"),
        ("Overweisung an DE89 3704 0044 0532 0130 00 bitte", "IBAN", "DE89 3704 0044 0532 0130 00"),
        ("Cep: 0532 123 45 67", "PHONE", "0532 123 45 67"),
        ("arayın +90 (212) 555-12-34", "PHONE", "+90 (212) 555-12-34"),
        ("gsm 05321234567", "PHONE", "05321234567"),
        ("telefon: 532 123 45 67", "PHONE", "532 123 45 67"),
        ("call +44 20 7946 0958 today", "PHONE", "+44 20 7946 0958"),
        ("Araç plakası 34 ABC 123 olan", "TR_PLATE", "34 ABC 123"),
        ("yazın: ayse.kaya@firma.com.tr", "EMAIL", "ayse.kaya@firma.com.tr"),
        ("intranet: j.doe@hr.corp.local", "EMAIL", "j.doe@hr.corp.local"),
        ("Kart 4111 1111 1111 1111 ile", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("Troy 9792 0000 0000 0003 kartı", "CREDIT_CARD", "9792 0000 0000 0003"),
        ("login from 192.168.10.24 failed", "IP_ADDRESS", "192.168.10.24"),
        ("client 2001:db8::8a2e:370:7334 connected", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
        ("SSN 123-45-6789 on file", "US_SSN", "123-45-6789"),
        ("Doğum tarihi: 12.03.1985", "DATE_OF_BIRTH", "12.03.1985"),
        ("She was born on March 12, 1985 in Leeds", "DATE_OF_BIRTH", "March 12, 1985"),
        ("Sayın Ahmet Yılmaz, başvurunuz alındı", "PERSON", "Ahmet Yılmaz"),
        ("Dr. Jane Doe signed the report", "PERSON", "Jane Doe"),
        ("Toplantıya Ayşe Kaya katıldı", "PERSON", "Ayşe Kaya"),
        ("AD SOYAD: MEHMET ÖZTÜRK", "PERSON", "MEHMET ÖZTÜRK"),
        ("Yarın Kemal Bey gelecek", "PERSON", "Kemal"),
    ],
)
def test_each_recognizer_finds_its_identifier(text: str, entity_type: str, value: str) -> None:
    assert (entity_type, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Numara 17291716050 geçersiz bir kimlik",  # TCKN checksum fails
        "Vergi no 4540536921",  # VKN checksum fails
        "IBAN TR33 0006 1005 1978 6457 8413 27",  # mod-97 fails
        "Kart 4111 1111 1111 1112",  # Luhn fails
        "Toplantı 12.03.2024 tarihinde yapıldı",  # a date without birth context is not a date of birth
        "shared_buffers = 128MB; max_connections = 100; see section 19.4.",
        "Set work_mem to 64 MB 1024 times; version 15.4 released 2023-08-10.",
        "The Deniz Feneri report and Umut Vakfı projects.",
    ],
)
def test_invalid_or_ordinary_text_is_left_alone(text: str) -> None:
    assert found(text) == []


def test_upper_case_turkish_context_scores_as_well_as_lower_case() -> None:
    value = "12.03.1985"  # a date is redacted only with a context word: the context decides
    lower = f"doğum tarihi: {value}"
    upper = f"DOĞUM TARİHİ: {value}"
    ascii_upper = f"DOGUM TARIHI: {value}"
    assert score_of(lower, value, "DATE_OF_BIRTH") >= engine.REDACT_THRESHOLD
    assert score_of(upper, value, "DATE_OF_BIRTH") == score_of(lower, value, "DATE_OF_BIRTH")
    assert score_of(ascii_upper, value, "DATE_OF_BIRTH") == score_of(lower, value, "DATE_OF_BIRTH")
    assert score_of(f"tarih: {value}", value, "DATE_OF_BIRTH") < engine.REDACT_THRESHOLD

    tckn = "10000000146"
    assert (
        score_of(f"T.C. KİMLİK NUMARASI: {tckn}", tckn, "TCKN")
        == score_of(f"t.c. kimlik numarası: {tckn}", tckn, "TCKN")
        > score_of(f"numara {tckn}", tckn, "TCKN")
    )
    vkn = "4540536920"
    assert score_of(f"VERGİ KİMLİK NO {vkn}", vkn, "VKN") == score_of(f"vergi kimlik no {vkn}", vkn, "VKN")


def test_iban_followed_by_more_digits_is_cut_at_its_valid_length() -> None:
    text = "IBAN TR33 0006 1005 1978 6457 8413 26 2024 yılı"
    assert ("IBAN", "TR33 0006 1005 1978 6457 8413 26") in found(text)


def test_overlapping_findings_keep_the_stronger() -> None:
    findings = engine.analyze("e-posta: ahmet.yilmaz@firma.com.tr", language="tr")
    assert [f.entity_type for f in findings] == ["EMAIL"]


def test_engine_is_built_once_and_offline() -> None:
    import tldextract

    assert engine.engine() is engine.engine()
    assert tldextract.tldextract.TLD_EXTRACTOR.suffix_list_urls == ()


def test_an_operator_spacy_model_adds_person_names(tmp_path, settings) -> None:
    """PII_NER_MODEL plugs a spaCy pipeline in; here one whose entity ruler knows a name no rule can find
    (not in the gazetteer, no title): the real SpacyNlpEngine loads it from disk and presidio's
    SpacyRecognizer reports it."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": [{"LOWER": "xalan"}, {"LOWER": "qorvath"}]}])
    nlp.to_disk(tmp_path / "ner")
    text = "The complaint was filed by Xalan Qorvath yesterday."
    assert found(text, "en") == []

    settings.PII_NER_MODEL = str(tmp_path / "ner")
    findings = engine.analyze(text, language="en")
    assert [(f.entity_type, text[f.start : f.end], f.method) for f in findings] == [
        ("PERSON", "Xalan Qorvath", "ner")
    ]


@pytest.mark.parametrize(
    ("text", "entity_type"),
    [
        ("0532\xa0123\xa045\xa067", "PHONE"),  # no-break spaces from a word processor
        ("TR33\u202f0006\u202f1005\u202f1978\u202f6457\u202f8413\u202f26", "IBAN"),
        ("IBAN: TR33 0006 1005 1978\n6457 8413 26", "IBAN"),  # wrapped by a PDF's layout
        ("TR 33 0006 1005 1978 6457 8413 26", "IBAN"),
        ("TR33-0006-1005-1978-6457-8413-26", "IBAN"),
        ("4111  1111  1111  1111", "CREDIT_CARD"),
        ("4111 1111\n1111 1111", "CREDIT_CARD"),
        ("kimlik no 1000000\n0146", "TCKN"),
        ("TC10000000146", "TCKN"),
        ("cv-10000000146", "TCKN"),
        ("10000000146/ek", "TCKN"),
        ("100 000 001 46", "TCKN"),
        ("1 0 0 0 0 0 0 0 1 4 6", "TCKN"),
        ("１０００００００１４６", "TCKN"),  # full-width digits
        ("Cep: 5321234567", "PHONE"),
        ("0532/123 45 67", "PHONE"),
        ("90 532 123 45 67", "PHONE"),
        ("ayse＠sirket.com", "EMAIL"),
    ],
)
def test_look_alike_characters_separators_and_wrapping_do_not_hide_identifiers(
    text: str, entity_type: str
) -> None:
    findings = engine.analyze(text, language="tr")
    assert [f.entity_type for f in findings] == [entity_type]
    rest = text[: findings[0].start] + text[findings[0].end :]
    assert not any(ch.isdigit() for ch in rest), rest
