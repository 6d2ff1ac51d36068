"""Redaction policies (keep, mask, hash, drop), the subject keys and the log filter."""

from __future__ import annotations

import logging

import pytest

from governance.pii.logfilter import WITHHELD, RedactingFilter
from governance.pii.redaction import Action, Policy, Redactor, pseudonym, redact_text, subject_key
from tests.conftest import WAIT_S

pytestmark = pytest.mark.django_db(databases=[])

TCKN = "10000000146"
OTHER_TCKN = "10000000078"
EMAIL = "ayse.kaya@firma.com.tr"


def test_strict_default_masks_every_type() -> None:
    text = f"Ayşe Kaya ({TCKN}, {EMAIL}) aradı: 0532 123 45 67"
    assert redact_text(text) == "<PERSON_1> (<TCKN_1>, <EMAIL_1>) aradı: <PHONE_1>"
    assert all(action == "mask" for action in Policy.strict().rules().values())


def test_mask_numbering_is_consistent_within_a_document() -> None:
    redactor = Redactor(policy=Policy.strict())
    first = redactor.redact(f"TCKN {TCKN} ve {OTHER_TCKN}")
    # Later text of the same document, the first number written with spaces: the same placeholder.
    second = redactor.redact(f"Tekrar: {OTHER_TCKN}; eşi {TCKN}")
    assert first == "TCKN <TCKN_1> ve <TCKN_2>"
    assert second == "Tekrar: <TCKN_2>; eşi <TCKN_1>"
    # A new document starts again at 1.
    assert Redactor(policy=Policy.strict()).redact(f"kimlik {OTHER_TCKN}") == "kimlik <TCKN_1>"


def test_hash_is_stable_across_documents_and_differs_per_value() -> None:
    policy = Policy.from_rules({"TCKN": "hash", "EMAIL": "hash"})
    one = Redactor(policy=policy).redact(f"kimlik {TCKN}, e-posta {EMAIL}")
    two = Redactor(policy=policy).redact(f"Başka belge: {EMAIL.upper()} / {TCKN}")
    token = f"<TCKN_{pseudonym('TCKN', TCKN)}>"
    assert token in one and token in two
    assert f"<EMAIL_{pseudonym('EMAIL', EMAIL)}>" in two  # e-mail case does not matter
    assert pseudonym("TCKN", OTHER_TCKN) != pseudonym("TCKN", TCKN)
    assert TCKN not in one + two and EMAIL not in one


def test_hash_is_keyed(settings) -> None:
    before = pseudonym("TCKN", TCKN)
    settings.PII_HMAC_KEY = "another installation's key"
    assert pseudonym("TCKN", TCKN) != before


def test_keep_keeps_and_drop_removes() -> None:
    policy = Policy.from_rules({"EMAIL": "keep", "TCKN": "drop"})
    assert Redactor(policy=policy).redact(f"{EMAIL} / {TCKN} / 0532 123 45 67") == f"{EMAIL} /  / <PHONE_1>"


def test_every_action_records_subjects_and_markers_survive_until_finalize() -> None:
    policy = Policy.from_rules({"EMAIL": "keep", "TCKN": "drop", "PHONE": "hash"})
    redactor = Redactor(policy=policy)
    marked = redactor.redact(f"{EMAIL} {TCKN} 0532 123 45 67 Ayşe Kaya", final=False)
    assert EMAIL not in marked and TCKN not in marked
    text, subjects = redactor.finalize(marked)
    assert text.startswith(f"{EMAIL}  <PHONE_") and text.endswith("<PERSON_1>")
    assert subjects == {
        ("EMAIL", subject_key("EMAIL", EMAIL)),
        ("TCKN", subject_key("TCKN", TCKN)),
        ("PHONE", subject_key("PHONE", "+90 532 123 4567")),  # any spelling of the number
        ("PERSON", subject_key("PERSON", "AYŞE KAYA")),
    }


def test_placeholders_are_not_redacted_again() -> None:
    once = redact_text(f"{TCKN} {EMAIL} Ayşe Kaya 0532 123 45 67")
    assert redact_text(once) == once
    hashed = redact_text(TCKN, policy=Policy.from_rules({"TCKN": "hash"}))
    assert redact_text(hashed) == hashed


def test_a_literal_placeholder_in_a_document_is_left_as_it_is() -> None:
    redactor = Redactor(policy=Policy.strict())
    assert redactor.finalize("see <TCKN_7> in the template")[0] == "see <TCKN_7> in the template"


def test_unknown_types_and_actions_are_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown entity type"):
        Policy.from_rules({"PASSPORT": "mask"})
    with pytest.raises(ValueError, match="Unknown action"):
        Policy.from_rules({"TCKN": "encrypt"})


def test_question_policy_keeps_only_what_every_collection_keeps() -> None:
    keep_email = Policy.from_rules({"EMAIL": "keep"})
    assert Policy.for_question([keep_email, keep_email]).action("EMAIL") == Action.KEEP
    assert Policy.for_question([keep_email, Policy.strict()]).action("EMAIL") == Action.HASH
    assert Policy.for_question([]).action("EMAIL") == Action.HASH
    assert Policy.strict().for_prompt().action("TCKN") == Action.HASH
    assert keep_email.for_prompt().action("EMAIL") == Action.KEEP


def test_log_lines_are_redacted_before_any_handler_writes_them(caplog) -> None:
    logger = logging.getLogger("emanet.test.pii")
    handler_filter = RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="emanet.test.pii"):
            logger.info("upload by %s (TCKN %s)", EMAIL, TCKN)
            try:
                raise ValueError(f"bad row for {TCKN}")
            except ValueError:
                logger.exception("ingest failed")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert TCKN not in caplog.text and EMAIL not in caplog.text
    assert "upload by <EMAIL_1> (TCKN <TCKN_1>)" in caplog.text
    assert "bad row for <TCKN_1>" in caplog.text


def test_log_filter_withholds_a_line_it_cannot_redact(monkeypatch) -> None:
    import governance.pii.redaction as redaction

    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("engine unavailable")

    monkeypatch.setattr(redaction, "redact_text", broken)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "TCKN %s", (TCKN,), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == WITHHELD


def test_the_configured_console_handler_redacts(capsys) -> None:
    """settings.LOGGING installs the filter on the console handler the application actually logs through."""
    root_handlers = logging.getLogger().handlers
    assert any(isinstance(f, RedactingFilter) for h in root_handlers for f in h.filters)


def test_records_are_redacted_at_creation_whatever_handler_writes_them() -> None:
    """A logger with its own handler and propagate=False (like django.server or transformers) gets redacted
    text too: the record factory redacts before any handler runs."""
    import io

    stream = io.StringIO()
    logger = logging.getLogger("emanet.test.own-handler")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("request from %s with TCKN %s", EMAIL, TCKN)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "request from <EMAIL_1> with TCKN <TCKN_1>\n"


def test_logging_during_the_analyzer_build_does_not_wait_for_the_build() -> None:
    import threading

    from governance.pii import engine

    done = threading.Event()

    def log_while_building() -> None:
        engine._build_state.active = True
        try:
            logging.getLogger("presidio-analyzer").warning("loading recognizers")
        finally:
            engine._build_state.active = False
        done.set()

    thread = threading.Thread(target=log_while_building)
    with engine._build_lock:  # as if this thread's build held the lock
        thread.start()
        assert done.wait(WAIT_S), "a log record inside the build blocked on the build lock"


def test_a_second_pass_leaves_placeholders_whole_even_when_their_hex_looks_like_a_number() -> None:
    text = "see <TCKN_a10000000146bcde> and <PHONE_05321234567aaaa>"
    assert redact_text(text) == text
