"""The audit trail: append-only for the application, hash-chained, serialised, verifiable; tampering done as
a database superuser (triggers disabled) is found at the exact row."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from governance.audit import (
    Actor,
    audit_checkpoint,
    audit_export,
    audit_record,
    audit_verify,
    verify_export,
)
from governance.models import AuditCheckpoint, AuditEvent
from tests.conftest import as_superuser

pytestmark = pytest.mark.django_db


def record(n: int) -> None:
    for i in range(n):
        audit_record(
            action="search", actor=Actor(user_id=7, role="employee"), details={"i": i, "hits": [1, 2]}
        )


@pytest.fixture
def tamper() -> Iterator[None]:
    """Act as a superuser with the append-only triggers off, as one with direct database access could."""
    with as_superuser():
        yield


def test_events_chain_and_verify() -> None:
    record(5)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    result = audit_verify()
    assert result.ok and result.rows == 5 and result.last_seq == 5


def test_the_application_cannot_update_or_delete_audit_rows() -> None:
    record(2)
    audit_checkpoint()
    for attempt in (
        lambda: AuditEvent.objects.filter(seq=1).update(action="nothing happened"),
        lambda: AuditEvent.objects.filter(seq=2).delete(),
        lambda: AuditCheckpoint.objects.all().delete(),
    ):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            attempt()
    assert AuditEvent.objects.count() == 2 and AuditEvent.objects.get(seq=1).action == "search"


def test_details_hold_no_raw_personal_data() -> None:
    event = audit_record(action="ask", details={"note": "TCKN 10000000146 ayse@firma.com.tr", "chunks": [3]})
    assert event.details == {"note": "TCKN <TCKN_1> <EMAIL_1>", "chunks": [3]}


def test_an_edited_row_is_found_at_that_row(tamper: None) -> None:
    record(6)
    AuditEvent.objects.filter(seq=3).update(details={"i": 99, "hits": [1, 2]})
    result = audit_verify()
    assert not result.ok and result.broken_seq == 3 and "changed" in result.reason


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(tamper: None) -> None:
    from governance.audit import chain_hash, payload_of

    record(6)
    event = AuditEvent.objects.get(seq=4)
    event.outcome = "denied"
    AuditEvent.objects.filter(seq=4).update(
        outcome="denied", hash=chain_hash(event.prev_hash, payload_of(event))
    )
    result = audit_verify()
    assert not result.ok and result.broken_seq == 5 and "does not link" in result.reason


def test_a_deleted_row_is_found(tamper: None) -> None:
    record(6)
    AuditEvent.objects.filter(seq=4).delete()
    result = audit_verify()
    assert not result.ok and result.broken_seq == 4 and "missing" in result.reason


def test_reordered_rows_are_found(tamper: None) -> None:
    record(6)
    AuditEvent.objects.filter(seq=2).update(seq=-2)
    AuditEvent.objects.filter(seq=3).update(seq=2)
    AuditEvent.objects.filter(seq=-2).update(seq=3)
    result = audit_verify()
    assert not result.ok and result.broken_seq == 2


def test_truncation_after_a_signed_checkpoint_is_found(tamper: None) -> None:
    record(6)
    assert audit_checkpoint() is not None
    AuditEvent.objects.filter(seq__gte=5).delete()
    result = audit_verify()
    assert not result.ok and result.broken_seq == 5 and "truncated" in result.reason


def test_a_forged_checkpoint_is_rejected(settings: pytest.FixtureRequest) -> None:
    record(3)
    audit_checkpoint()
    settings.AUDIT_CHECKPOINT_KEY = "someone else's key"  # type: ignore[attr-defined]
    result = audit_verify()
    assert not result.ok and "signature" in result.reason


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain() -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            record(10)
        except BaseException as exc:  # noqa: BLE001 — collected and re-raised by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, 41))
    assert audit_verify().ok


def test_exports_verify_offline_and_catch_edits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(5)
    export = audit_export()
    assert export["manifest"]["rows"] == 5 and export["manifest"]["checkpoint"]["seq"] == 5
    assert verify_export(export).ok
    part = audit_export(first_seq=2, last_seq=4)
    assert verify_export(part).ok and part["manifest"]["first_prev_hash"] == export["events"][0]["hash"]

    edited = json.loads(json.dumps(export))
    edited["events"][2]["target_id"] = "42"
    bad = verify_export(edited)
    assert not bad.ok and bad.broken_seq == 3

    cut = json.loads(json.dumps(export))
    cut["events"] = cut["events"][:-1]
    assert not verify_export(cut).ok

    path = tmp_path / "audit.json"
    path.write_text(json.dumps(export))
    call_command("audit_verify", "--file", str(path))
    assert "OK: 5 rows" in capsys.readouterr().out
    path.write_text(json.dumps(edited))
    with pytest.raises(SystemExit):
        call_command("audit_verify", "--file", str(path))
    assert "BROKEN at row 3" in capsys.readouterr().out


def test_verify_command_reports_and_is_itself_audited(capsys: pytest.CaptureFixture[str]) -> None:
    record(2)
    call_command("audit_verify")
    assert "OK: 2 rows" in capsys.readouterr().out
    assert AuditEvent.objects.order_by("-seq").first().action == "audit.verify"  # type: ignore[union-attr]
    assert audit_verify().ok


def test_a_cut_export_with_its_manifest_edited_fails_on_the_signature() -> None:
    record(5)
    export = audit_export()
    cut = json.loads(json.dumps(export))
    cut["events"] = cut["events"][:3]
    cut["manifest"].update(rows=3, last_seq=3, last_hash=cut["events"][-1]["hash"])
    result = verify_export(cut)
    assert not result.ok and "signature" in result.reason


def test_csv_exports_keep_unusual_line_breaks_inside_fields(tmp_path: Path) -> None:
    from governance.audit_apis import _csv_response
    from governance.management.commands.audit_verify import load_export

    audit_record(
        action="document.ingest", outcome="failed", details={"reason": "bad\u2028line\x85end\r\nhere"}
    )
    path = tmp_path / "audit.csv"
    path.write_bytes(_csv_response(audit_export()).content)
    assert verify_export(load_export(path)).ok


def test_floats_and_hashes_in_details_survive_the_database() -> None:
    event = audit_record(action="x", details={"big": 1e16, "neg": -0.0, "sha256": "1" * 11 + "a" * 53})
    assert event.details["sha256"] == "1" * 11 + "a" * 53
    assert audit_verify().ok
