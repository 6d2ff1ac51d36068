"""Denied access leaves a trace (outcome "denied"): object probes answered 404/403, bad tokens and API keys,
failed logins, non-officers on the audit trail — aggregated per actor or pseudonymised address, reason and route
per minute, so that a flood writes O(1) rows. Reading the audit trail is audited too."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from governance.audit import Actor
from governance.audit.denied import PREFIX, _client, audit_denied, audit_denied_flush
from governance.models import AuditEvent
from governance.pii.redaction import pseudonym
from governance.roles import COMPLIANCE_GROUP
from governance.tasks import audit_denied_flush as audit_denied_flush_task
from rag.models import Answer, Conversation

pytestmark = pytest.mark.django_db

ApiClients = Callable[[Any], APIClient]
MINUTE = datetime(2026, 11, 24, 10, 0, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    """The counters live in the test Redis, shared by every test: start from none."""

    def clear() -> None:
        client = _client()
        keys = list(client.scan_iter(f"{PREFIX}*"))
        if keys:
            client.delete(*keys)

    clear()
    yield
    clear()


@pytest.fixture
def officer(carol: Any) -> Any:
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    return carol


def denied() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(outcome="denied").order_by("seq"))


def test_probing_another_users_conversation_is_audited_with_who_what_and_the_route(
    alice: Any, bob: Any, client_for: ApiClients
) -> None:
    conversation = Conversation.objects.create(user=alice, title="q")
    response = client_for(bob).get(f"/api/v1/conversations/{conversation.pk}")
    assert response.status_code == 404
    (event,) = denied()
    assert event.action == "access.denied" and event.actor_user_id == bob.pk and event.role == "employee"
    assert event.details["reason"] == "not_found" and event.details["status"] == 404
    assert event.details["path"] == "api/v1/conversations/<int:conversation_id>"
    assert event.details["ids"] == {"conversation_id": conversation.pk}


def test_a_portal_probe_of_another_users_conversation_is_audited(
    client: Client, alice: Any, bob: Any
) -> None:
    answer = Answer.objects.create(
        conversation=Conversation.objects.create(user=alice, title="q"), question="Who keeps the logbook?"
    )
    client.force_login(bob)
    assert client.get(f"/c/{answer.conversation_id}/").status_code == 404
    (event,) = denied()
    assert event.actor_user_id == bob.pk and event.details["path"] == "c/<int:conversation_id>/"
    assert event.details["reason"] == "not_found"


@pytest.mark.parametrize(
    ("header", "scheme"),
    [("Api-Key em_0badc0de_not-a-real-secret-value", "api-key"), ("Token not-a-real-secret-value", "token")],
)
def test_a_bad_api_key_or_token_is_audited_without_the_secret(header: str, scheme: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/collections").status_code == 401
    (event,) = denied()
    assert event.role == "anonymous" and event.actor_user_id is None
    assert event.ip == pseudonym("IP_ADDRESS", "127.0.0.1")  # the address only as its HMAC pseudonym
    assert event.details["reason"] == "bad_credentials" and event.details["scheme"] == scheme
    assert "not-a-real-secret-value" not in json.dumps(event.details) and "127.0.0.1" not in event.ip


def test_no_credentials_at_all_is_audited_too() -> None:
    assert APIClient().get("/api/v1/audit/events").status_code == 401
    (event,) = denied()
    assert event.details["reason"] == "no_credentials" and event.details["path"] == "api/v1/audit/events"


def test_a_non_officer_on_the_audit_trail_is_audited_through_api_and_portal(
    client: Client, alice: Any, client_for: ApiClients
) -> None:
    alice.is_staff = True  # an administrator is not a compliance officer
    alice.save(update_fields=["is_staff"])
    assert client_for(alice).get("/api/v1/audit/events").status_code == 403
    assert client_for(alice).get("/api/v1/audit/export").status_code == 403
    client.force_login(alice)
    assert client.get("/compliance/").status_code == 403
    events = denied()
    assert [(e.details["path"], e.details["reason"], e.role) for e in events] == [
        ("api/v1/audit/events", "forbidden", "admin"),
        ("api/v1/audit/export", "forbidden", "admin"),
        ("compliance/", "forbidden", "admin"),
    ]


@pytest.mark.slow
def test_ten_thousand_denials_in_a_minute_write_two_rows() -> None:
    actor = Actor(role="anonymous", ip=pseudonym("IP_ADDRESS", "203.0.113.9"))
    for _ in range(10_000):
        audit_denied(
            actor=actor, action="access.denied", reason="not_found", path="api/v1/x/<int:id>", now=MINUTE
        )
    assert len(denied()) == 1  # the first, at once
    assert audit_denied_flush(now=MINUTE) == 0  # the minute is not over yet
    assert audit_denied_flush(now=MINUTE + timedelta(minutes=1)) == 1
    first, summary = denied()
    assert first.ip == summary.ip == actor.ip and summary.action == "access.denied"
    assert summary.details["repeats"] == 9_999 and summary.details["summary"] is True
    assert summary.details["minute"] == "2026-11-24T10:00:00+00:00"
    assert audit_denied_flush(now=MINUTE + timedelta(minutes=5)) == 0  # written once


@pytest.mark.slow
def test_a_flood_of_http_probes_writes_a_bounded_number_of_rows(bob: Any, client_for: ApiClients) -> None:
    client = client_for(bob)
    for document_id in range(1, 101):
        assert client.get(f"/api/v1/documents/{10**9 + document_id}").status_code == 404
    audit_denied_flush(now=datetime.now(tz=UTC) + timedelta(minutes=2))
    events = denied()
    # One first event and one summary per minute the loop touched (a slow machine may cross a minute or two).
    firsts = [e for e in events if not e.details.get("summary")]
    assert len(events) <= 6 and len(firsts) <= 3
    assert len(firsts) + sum(e.details.get("repeats", 0) for e in events) == 100


def test_failed_logins_are_denied_events_with_only_a_pseudonym_of_the_name(
    client: Client, alice: Any
) -> None:
    client.post("/login/", {"username": "alice", "password": "wrong-password-1"})
    client.post("/admin/login/", {"username": "nobody-known", "password": "wrong-password-2"})
    portal, admin = denied()
    assert (portal.action, portal.details["path"]) == ("login", "login/")
    assert (admin.action, admin.details["path"]) == ("login", "admin/login/")
    assert portal.details["username"] == pseudonym("PERSON", "alice")
    text = json.dumps([portal.details, admin.details])
    assert "alice" not in text and "nobody-known" not in text and "wrong-password" not in text


def test_past_the_limit_of_keys_a_minute_everything_else_is_one_overflow_key(settings: Any) -> None:
    settings.AUDIT_DENIED_KEYS_PER_MINUTE = 3
    for n in range(50):  # a flood from 50 addresses, 4 requests each
        actor = Actor(role="anonymous", ip=pseudonym("IP_ADDRESS", f"198.51.100.{n}"))
        for _ in range(4):
            audit_denied(actor=actor, action="access.denied", reason="not_found", path="p", now=MINUTE)
    assert [e.action for e in denied()] == ["access.denied"] * 3 + ["access.denied_overflow"]
    # Redis holds a marker per key up to the limit, not one per source of the flood.
    assert len(list(_client().scan_iter(f"{PREFIX}first:*"))) == 4
    audit_denied_flush(now=MINUTE + timedelta(minutes=1))
    summaries = [e for e in denied() if e.details.get("summary")]
    assert len(summaries) == 4  # three keys and the overflow key: still O(1) rows
    assert sum(e.details["repeats"] for e in summaries) + 4 == 200


def test_a_first_event_rolled_back_is_written_again_not_counted() -> None:
    actor = Actor(role="anonymous", ip=pseudonym("IP_ADDRESS", "192.0.2.1"))

    def deny() -> AuditEvent | None:
        return audit_denied(actor=actor, action="access.denied", reason="forbidden", path="q", now=MINUTE)

    with pytest.raises(RuntimeError), transaction.atomic():
        assert deny() is not None
        raise RuntimeError("the surrounding action fails: its audit event is rolled back with it")
    assert deny() is not None and len(denied()) == 1
    assert deny() is None  # now a repeat


def test_reading_the_audit_trail_is_audited_with_filters_and_count_not_content(
    client: Client, officer: Any, client_for: ApiClients
) -> None:
    listed = client_for(officer).get("/api/v1/audit/events", {"action": "login", "limit": 5})
    assert listed.status_code == 200
    (read,) = AuditEvent.objects.filter(action="audit.read")
    assert read.actor_user_id == officer.pk and read.role == "compliance_officer"
    assert read.details == {"filters": {"action": "login", "limit": "5"}, "count": 0, "via": "api"}
    client.force_login(officer)
    assert client.get("/compliance/", {"action": "audit.read"}).status_code == 200
    portal = AuditEvent.objects.filter(action="audit.read").order_by("-seq").first()
    assert portal is not None and portal.details["via"] == "portal"
    assert portal.details["filters"] == {"action": "audit.read"} and portal.details["count"] == 1


def test_celery_beat_flushes_the_summaries_every_minute(settings: Any) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE["audit-denied-flush"]
    assert schedule == {"task": "governance.tasks.audit_denied_flush", "schedule": 60.0}
    actor = Actor(role="anonymous", ip=pseudonym("IP_ADDRESS", "192.0.2.7"))
    for _ in range(3):
        audit_denied(actor=actor, action="access.denied", reason="not_found", path="r", now=MINUTE)
    assert audit_denied_flush_task() == 1  # the task as beat runs it, at the present time
    assert [e.details.get("repeats") for e in denied()] == [None, 2]


def test_a_card_number_typed_into_an_audit_filter_never_reaches_the_trail(
    client: Client, officer: Any, client_for: ApiClients
) -> None:
    card = "4111111111111111"  # 16 digits: shaped like the hex hashes the trail keeps as they are
    assert client_for(officer).get("/api/v1/audit/events", {"correlation_id": card}).status_code == 400
    client.force_login(officer)
    assert client.get("/compliance/", {"correlation_id": card}).status_code == 400
    (read,) = AuditEvent.objects.filter(action="audit.read")
    assert read.outcome == "failed" and read.details["filters"] == {"correlation_id": "(malformed)"}
    assert card not in json.dumps(list(AuditEvent.objects.values_list("details", flat=True)))
