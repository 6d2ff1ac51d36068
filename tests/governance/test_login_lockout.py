"""Login lockout (django-axes): AXES_FAILURE_LIMIT failed sign-ins for one user name from one address lock that
pair out for AXES_COOLOFF_MINUTES, on the portal's and the admin's login alike; the page says so (429, not a
500); the lockout and lifting it (manage.py axes_reset*) are audit events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from governance.audit.denied import PREFIX, _client
from governance.models import AuditEvent
from governance.pii.redaction import pseudonym
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db

PASSWORD = "right-pass-1"
LOCKED = "Too many failed sign-in attempts"


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    client = _client()
    for key in client.scan_iter(f"{PREFIX}*"):
        client.delete(key)
    yield


@pytest.fixture
def user(alice: Any) -> Any:
    alice.set_password(PASSWORD)
    alice.save()
    return alice


def sign_in(client: Client, password: str, *, url: str = "/login/", address: str = "127.0.0.1") -> Any:
    return client.post(url, {"username": "alice", "password": password}, REMOTE_ADDR=address)


def test_five_failures_lock_the_name_out_from_that_address_with_a_clear_page(
    client: Client, user: Any
) -> None:
    for _ in range(4):
        assert sign_in(client, "wrong").status_code == 200  # the form again, with its error
    locked = sign_in(client, "wrong")
    assert locked.status_code == 429 and LOCKED in locked.content.decode()
    assert "15 minutes" in locked.content.decode()
    # Now even the right password is refused, and nobody is signed in.
    again = sign_in(client, PASSWORD)
    assert again.status_code == 429 and LOCKED in again.content.decode()
    assert "_auth_user_id" not in client.session
    # The same name from another address is not locked out (keyed by name and address).
    assert sign_in(Client(), PASSWORD, address="10.0.0.7").status_code == 302

    (lockout,) = AuditEvent.objects.filter(action="login.lockout")
    assert lockout.outcome == "denied" and lockout.role == "anonymous"
    assert lockout.details["username"] == pseudonym("PERSON", "alice")
    assert lockout.details["failure_limit"] == 5 and lockout.details["cooloff_minutes"] == 15
    assert lockout.ip == pseudonym("IP_ADDRESS", "127.0.0.1")
    assert "alice" not in json.dumps(lockout.details)


def test_behind_a_trusted_proxy_each_client_is_locked_out_on_its_own(user: Any, settings: Any) -> None:
    # Every request reaches the service from the proxy's address; the proxy appends the client's own to
    # X-Forwarded-For. Without trusting it, one attacker would lock the name out for everybody.
    settings.TRUST_X_FORWARDED_FOR = True
    proxy = "10.0.0.2"

    def via_proxy(client_address: str, password: str) -> Any:
        return Client().post(
            "/login/",
            {"username": "alice", "password": password},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"198.51.100.1, {client_address}",  # the first entry is the client's claim
        )

    for _ in range(5):
        response = via_proxy("203.0.113.5", "wrong")
    assert response.status_code == 429
    assert via_proxy("203.0.113.6", PASSWORD).status_code == 302  # another client behind the same proxy
    (lockout,) = AuditEvent.objects.filter(action="login.lockout")
    assert lockout.ip == pseudonym("IP_ADDRESS", "203.0.113.5")


def test_the_admin_login_is_locked_out_too(client: Client, user: Any) -> None:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    for _ in range(5):
        response = sign_in(client, "wrong", url="/admin/login/")
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert sign_in(client, PASSWORD, url="/admin/login/").status_code == 429
    assert AuditEvent.objects.get(action="login.lockout").details["path"] == "admin/login/"


def test_a_successful_sign_in_clears_the_failures(client: Client, user: Any) -> None:
    for _ in range(4):
        sign_in(client, "wrong")
    assert sign_in(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert sign_in(client, "wrong").status_code == 200
    assert not AuditEvent.objects.filter(action="login.lockout").exists()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("axes_reset", []),
        ("axes_reset_username", ["alice"]),
        ("axes_reset_ip", ["127.0.0.1"]),
        ("axes_reset_ip_username", ["127.0.0.1", "alice"]),
    ],
)
def test_lifting_a_lockout_is_audited(client: Client, user: Any, command: str, args: list[str]) -> None:
    for _ in range(5):
        sign_in(client, "wrong")
    assert sign_in(client, PASSWORD).status_code == 429
    out = StringIO()
    call_command(command, *args, stdout=out)
    assert "attempts removed" in out.getvalue()
    assert sign_in(client, PASSWORD).status_code == 302

    (unlock,) = AuditEvent.objects.filter(action="login.unlock")
    assert unlock.role == "admin" and unlock.details["via"] == f"manage.py {command}"
    assert unlock.details["attempts_removed"] >= 1
    if "alice" in args:
        assert unlock.details["username"] == pseudonym("PERSON", "alice")
    assert "alice" not in json.dumps(unlock.details) and "127.0.0.1" not in json.dumps(unlock.details)


def test_limit_and_cool_off_come_from_the_environment() -> None:
    code = "from django.conf import settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)"
    env = {**os.environ, "AXES_FAILURE_LIMIT": "3", "AXES_COOLOFF_MINUTES": "45"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "3 0:45:00"
