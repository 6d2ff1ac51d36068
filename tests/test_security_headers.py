"""Content-Security-Policy without inline script or style, the other security headers, and the TLS deployment
settings of docker-compose.yml passing `manage.py check --deploy`."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import Group
from django.test import Client

from governance.roles import COMPLIANCE_GROUP
from rag.models import Collection
from tests.conftest import WAIT_S
from tests.rag.helpers import ingest_bytes

ROOT = Path(__file__).resolve().parent.parent

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}

# Markup that runs or styles from inside the page: what the policy forbids. A <script> is allowed only with
# src= (a file of ours) or as a data block (type="application/json", e.g. json_script), which never runs.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\btype=\"application/json\")[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def _policy(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def _inline_code(html: str) -> list[str]:
    found = []
    for pattern in (INLINE_SCRIPT, EVENT_HANDLER, STYLE_ATTRIBUTE, STYLE_ELEMENT, JAVASCRIPT_URL):
        found += [match.group(0)[:120] for match in pattern.finditer(html)]
    return found


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy_and_the_other_headers(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    assert _policy(response["Content-Security-Policy"]) == POLICY
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_templates_hold_no_inline_script_style_or_event_handler() -> None:
    templates = sorted(
        path for folder in ("templates", "rag", "governance") for path in (ROOT / folder).rglob("*.html")
    )
    assert len(templates) > 10
    offenders = {str(path.relative_to(ROOT)): _inline_code(path.read_text()) for path in templates}
    assert {name: code for name, code in offenders.items() if code} == {}


@pytest.mark.django_db
def test_rendered_pages_hold_no_inline_script_style_or_event_handler(
    alice: Any, collection_a: Collection, client: Client
) -> None:
    """What the templates render, includes and widgets included, for a user who sees every section."""
    document = ingest_bytes(collection_a, alice, b"The boiler is serviced every spring.", "boiler.txt")
    alice.groups.add(Group.objects.get_or_create(name=COMPLIANCE_GROUP)[0])
    alice.is_staff = alice.is_superuser = True
    alice.save()
    anonymous = Client().get("/login/").content.decode()
    client.force_login(alice)
    paths = [
        "/",
        "/documents/",
        f"/documents/{document.pk}/",
        "/upload/",
        f"/collections/{collection_a.pk}/privacy/",
        "/compliance/",
        "/compliance/requests/",
        "/compliance/inventory/",
        "/compliance/retention/",
        "/api/docs/",
        "/admin/",
        "/admin/rag/document/",
        "/no-such-page/",
    ]
    pages = {"/login/": anonymous}
    for path in paths:
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert _policy(response["Content-Security-Policy"]) == POLICY, path
        pages[path] = response.content.decode()
    assert {path: code for path, html in pages.items() if (code := _inline_code(html))} == {}
    assert 'id="ui-strings" type="application/json"' in pages["/"]  # the data block stays


@pytest.mark.django_db
def test_swagger_ui_loads_its_initialisation_script_from_a_url(alice: Any, client: Client) -> None:
    client.force_login(alice)
    page = client.get("/api/docs/")
    html = page.content.decode()
    script_urls = re.findall(r'<script src="([^"]+)"', html)
    init = [url for url in script_urls if "script=" in url]
    assert len(init) == 1 and init[0].startswith("/api/docs/")
    script = client.get(init[0].replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db
def test_https_redirects_pins_and_trusts_only_the_configured_proxy_header(
    client: Client, settings: Any
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    plain = Client().get("/login/")
    assert (plain.status_code, plain["Location"]) == (301, "https://testserver/login/")
    proxied = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert Client().get("/api/v1/health").status_code != 301  # the container's health check over http
    # Without a trusted proxy, the header is only a client's claim: still redirected.
    settings.SECURE_PROXY_SSL_HEADER = None
    assert Client().get("/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 301


_DEPLOYMENT = {
    "SECRET_KEY": "s" * 50,
    "PII_HMAC_KEY": "p" * 50,
    "AUDIT_CHECKPOINT_KEY": "a" * 50,
    "DATABASE_URL": "postgresql://emanet:pw@db.internal:5432/emanet",
    "REDIS_URL": "redis://redis.internal:6379/0",
}
_PRINT = (
    "import django; django.setup(); from django.conf import settings as s;"
    "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS,"
    " s.SECURE_PROXY_SSL_HEADER)"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "False False False 0 None"),
        ({"HTTPS": "true"}, "True True True 31536000 None"),
        (
            {"HTTPS": "true", "TRUST_X_FORWARDED_PROTO": "true", "SECURE_SSL_REDIRECT": "false"},
            "True True False 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')",
        ),
    ],
)
def test_transport_settings_follow_https_not_debug(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", _PRINT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **_DEPLOYMENT,
            **env,
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def _compose_environment(service: str, data_dir: Path) -> dict[str, str]:
    """The service's environment as docker compose would pass it: ${VAR:-default} → default, ${VAR:?…} (a
    secret the operator must set) → a random value of secret strength, /data → a temporary folder."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    raw = compose["services"][service]["environment"]

    def resolve(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if operator == ":-":
            return rest
        return secrets.token_urlsafe(50) if name != "POSTGRES_PASSWORD" else "pw"

    env = {
        name: re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", resolve, str(value))
        for name, value in raw.items()
        if value is not None
    }
    env["DATA_DIR"] = str(data_dir)
    return env


@pytest.mark.parametrize("service", ["web", "worker"])
def test_compose_deployment_settings_pass_check_deploy(service: str, tmp_path: Path) -> None:
    env = _compose_environment(service, tmp_path)
    assert env["DEBUG"] == "false" and env["HTTPS"] == "true"
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={"PATH": os.environ.get("PATH", ""), "STATIC_ROOT": str(tmp_path / "static"), **env},
    )
    output = result.stdout + result.stderr
    issues = re.findall(r"\(([a-z_]+\.[A-Z]\d+)\)", output)
    # Every check is silent: Django's deployment checks, django-csp's, the project's and drf-spectacular's
    # schema warnings (the API documents its components, authentication schemes and errors).
    assert issues == [], output
    assert result.returncode == 0, output
    assert not (tmp_path / "pg").exists()  # nothing embedded: the compose services are external
