"""The run command is safe to leave running: with no environment at all it serves with DEBUG=false, embedded
servers and secrets generated once under DATA_DIR, static files through WhiteNoise, and an unexpected error is
a plain page (or JSON under /api/) without traceback, settings or local variables."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from governance.roles import COMPLIANCE_GROUP
from tests.conftest import WAIT_S
from tests.raising_urls import CANARY_LOCAL, CANARY_MESSAGE

ROOT = Path(__file__).resolve().parent.parent
SECRET_FILES = ("secret_key", "pii_hmac_key", "audit_checkpoint_key")

# Runs in a process with no Emanet environment: config.settings as the run command loads it.
PROBE = """
import hashlib, json, django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client
from django.test.utils import override_settings

call_command("collectstatic", interactive=False, verbosity=0)
client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
with override_settings(ROOT_URLCONF="tests.raising_urls"):
    page = client.get("/test-fails/")
    api = client.get("/api/v1/test-fails")
css = client.get(static("rag/portal.css"))
print(json.dumps({
    "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "db_host": settings.DATABASES["default"]["HOST"],
    "broker": settings.CELERY_BROKER_URL,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "secret_key_sha256": hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest(),
    "page": [page.status_code, page["Content-Type"], page.content.decode()],
    "page_csp": page.get("Content-Security-Policy", ""),
    "api": [api.status_code, api["Content-Type"], api.content.decode()],
    "css": [static("rag/portal.css"), css.status_code, css.get("Cache-Control", "")],
}))
"""


def _clean_env(data_dir: Path) -> dict[str, str]:
    """Nothing of Emanet's configuration: not DEBUG, not a URL, not a secret (the test run's own are dropped)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(data_dir)),
        "LANG": "C.UTF-8",
        "DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S
    )


@pytest.fixture
def bare_install(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh DATA_DIR; the embedded PostgreSQL and Redis that the settings start there are stopped after."""
    env = _clean_env(tmp_path / "data")
    try:
        yield env
    finally:
        _run(["manage.py", "embedded", "stop"], env)


def test_run_command_with_no_environment_is_safe_to_leave_running(bare_install: dict[str, str]) -> None:
    data_dir = Path(bare_install["DATA_DIR"])
    check = _run(["manage.py", "check"], bare_install)
    assert check.returncode == 0, check.stderr

    # Secrets were generated once, readable by the owner only.
    first = {name: (data_dir / name).read_text() for name in SECRET_FILES}
    for name in SECRET_FILES:
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
        assert len(first[name]) >= 50
    assert len(set(first.values())) == 3

    probe = _run(["-c", PROBE], bare_install)
    assert probe.returncode == 0, probe.stderr
    seen: dict[str, Any] = json.loads(probe.stdout.strip().splitlines()[-1])

    # A second start keeps them: sessions, pseudonyms and checkpoint signatures survive a restart.
    assert {name: (data_dir / name).read_text() for name in SECRET_FILES} == first
    assert seen["secret_key_sha256"] == hashlib.sha256(first["secret_key"].strip().encode()).hexdigest()

    assert seen["debug"] is False
    assert seen["allowed_hosts"] == ["127.0.0.1", "localhost"]
    # Embedded servers, although DEBUG is off: the database socket and the broker live under DATA_DIR.
    assert seen["db_host"].startswith(str(data_dir))
    assert seen["broker"].startswith("redis+socket://")
    # Plain http on loopback must keep working for the local demo (README: the TLS trade-off).
    assert seen["session_cookie_secure"] is False

    status, content_type, body = seen["page"]
    assert status == 500 and content_type.startswith("text/html")
    assert "Server error" in body
    for leak in (
        "Traceback",
        CANARY_LOCAL,
        CANARY_MESSAGE,
        "SECRET_KEY",
        "DATABASES",
        "raising_urls",
        "/work/",
    ):
        assert leak not in body, leak
    assert "script-src 'self'" in seen["page_csp"]
    status, content_type, body = seen["api"]
    assert (status, content_type) == (500, "application/json")
    assert json.loads(body) == {"detail": "Internal server error. The administrator can find it in the log."}

    # Static files come from WhiteNoise with hashed names, cacheable for good.
    url, status, cache_control = seen["css"]
    assert url.startswith("/static/rag/portal.") and url.endswith(".css") and url != "/static/rag/portal.css"
    assert status == 200 and "immutable" in cache_control


@pytest.mark.django_db
@pytest.mark.urls("tests.raising_urls")
def test_unexpected_errors_render_plain_pages_without_debug_details(settings: Any) -> None:
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    page = client.get("/test-fails/")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert "Server error" in body
    for leak in ("Traceback", CANARY_LOCAL, CANARY_MESSAGE, "SECRET_KEY", "settings", "raising_urls"):
        assert leak not in body, leak
    api = client.get("/api/v1/test-fails")
    assert api.status_code == 500 and api.json() == {
        "detail": "Internal server error. The administrator can find it in the log."
    }


@pytest.mark.django_db
def test_malformed_query_parameter_never_shows_a_debug_page(carol: Any, settings: Any) -> None:
    settings.DEBUG = False
    carol.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    client = Client(raise_request_exception=False)
    client.force_login(carol)
    response = client.get("/compliance/", {"before_seq": "²"})
    # 400 once every query parameter goes through a form (issue 13, item 12); never a debug page either way.
    assert response.status_code in (200, 400, 500)
    body = response.content.decode()
    assert "Traceback" not in body and "Request Method" not in body and "ValueError" not in body


@pytest.mark.django_db
def test_error_pages_are_the_project_s_own(alice: Any, settings: Any) -> None:
    settings.DEBUG = False
    client = Client()
    client.force_login(alice)
    pages = {
        404: client.get("/no-such-page/"),
        403: client.get("/compliance/"),  # alice is no compliance officer
        400: client.get("/", HTTP_HOST="evil.example"),  # a host not in ALLOWED_HOSTS
    }
    titles = {404: "Not found", 403: "Forbidden", 400: "Bad request"}
    for status, response in pages.items():
        body = response.content.decode()
        assert response.status_code == status, status
        assert titles[status] in body and "rag/portal.css" in body, body
        assert "no-such-page" not in body and "evil.example" not in body
