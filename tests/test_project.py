"""Project-level guarantees: light web imports, fail-fast deployment settings, a parseable compose file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import WAIT_S

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={**os.environ, **env},
    )


def test_web_urlconf_does_not_import_torch() -> None:
    result = _python(
        "import django, sys; django.setup(); import config.urls, rag.apis, rag.selectors;"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))",
        DJANGO_SETTINGS_MODULE="config.settings_test",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_secrets_not_given_are_generated_once_under_data_dir_with_external_services(tmp_path: Path) -> None:
    """DEBUG=false needs no secret in the environment: each is generated once, 0600, and kept."""
    code = (
        "import django, hashlib; django.setup(); from django.conf import settings as s;"
        "print(*(hashlib.sha256(v.encode()).hexdigest()[:12] for v in "
        "(s.SECRET_KEY, s.PII_HMAC_KEY, s.AUDIT_CHECKPOINT_KEY)), s.DEBUG)"
    )
    env = {
        "DATABASE_URL": "postgresql://emanet@db.internal/emanet",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "",
        "PII_HMAC_KEY": "",
        "AUDIT_CHECKPOINT_KEY": "",
        "DEBUG": "",
    }
    first, second = _python(code, **env), _python(code, **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(set(first.stdout.split())) == 4
    assert first.stdout.split()[-1] == "False"
    for name in ("secret_key", "pii_hmac_key", "audit_checkpoint_key"):
        assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "pg").exists()  # nothing embedded was started


def test_deployment_settings_start_with_them_and_embed_nothing(tmp_path: Path) -> None:
    result = _python(
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.DATABASES['default']['HOST'], settings.CELERY_BROKER_URL, settings.DEBUG)",
        DEBUG="false",
        SECRET_KEY="x" * 50,
        PII_HMAC_KEY="y" * 50,
        AUDIT_CHECKPOINT_KEY="z" * 50,
        DATABASE_URL="postgresql://emanet:pw@db.internal:5432/emanet",
        REDIS_URL="redis://redis.internal:6379/0",
        DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["db.internal", "redis://redis.internal:6379/0", "False"]
    assert not (tmp_path / "pg").exists()


def test_bad_boolean_is_a_configuration_error() -> None:
    result = _python("import django; django.setup()", DEBUG="maybe", DJANGO_SETTINGS_MODULE="config.settings")
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RETENTION_RUN_EVERY_S", str(183 * 24 * 3600), "at most every six months"),
        ("DESTRUCTION_RECORD_KEEP_DAYS", "365", "at least three years"),
    ],
)
def test_retention_limits_of_the_law_are_enforced_at_start(name: str, value: str, message: str) -> None:
    result = _python(
        "import django; django.setup()", **{name: value, "DJANGO_SETTINGS_MODULE": "config.settings"}
    )
    assert result.returncode != 0 and message in result.stderr
    ok = _python(
        "import django; django.setup(); from django.conf import settings; print(settings.CELERY_BEAT_SCHEDULE)",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    assert ok.returncode == 0 and "governance.tasks.retention_run" in ok.stdout


def test_database_url_forms() -> None:
    from config.env import parse_database_url

    socket = parse_database_url("postgresql://postgres@/emanet?host=/tmp/pg%20dir")
    assert (socket["NAME"], socket["HOST"], socket["USER"]) == ("emanet", "/tmp/pg dir", "postgres")
    tcp = parse_database_url("postgres://u:p%40ss@db:6543/emanet?sslmode=require")
    assert (tcp["HOST"], tcp["PORT"], tcp["PASSWORD"], tcp["OPTIONS"]) == (
        "db",
        "6543",
        "p@ss",
        {"sslmode": "require"},
    )


def test_docker_compose_file_describes_the_production_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "web", "worker"} <= set(services)
    assert services["db"]["image"].startswith("pgvector/pgvector")
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["DEBUG"] == "false"
        assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= set(env)
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert "worker" in services["worker"]["command"]
    has_compose = False
    if shutil.which("docker"):
        version = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=WAIT_S)
        has_compose = version.returncode == 0
    if has_compose:  # the compose plugin parses the file fully, interpolation included
        result = subprocess.run(
            ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            env={**os.environ, "SECRET_KEY": "x", "POSTGRES_PASSWORD": "x"},
        )
        assert result.returncode == 0, result.stderr
