"""Settings for the test suite: the same real services, isolated from a running development instance.

The pytest process picks a run id; the Celery worker processes that the tests start inherit it through the
environment, so they listen on the same private queue and read uploads from the same folder.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

# Own embedded PostgreSQL/Redis under .data/test: tests never touch a running development instance's data.
os.environ.setdefault("DATA_DIR", str(Path(__file__).resolve().parent.parent / ".data" / "test"))
# The converted local model is shared with the development install (converting takes ~40 s).
os.environ.setdefault(
    "LOCAL_LLM_DIR",
    str(Path(__file__).resolve().parent.parent / ".data" / "models" / "SmolLM2-135M-Instruct"),
)
_run_id = os.environ.setdefault("EMANET_TEST_RUN_ID", uuid.uuid4().hex[:10])
os.environ.setdefault("CELERY_QUEUE", f"emanet-test-{_run_id}")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / f"emanet-test-{_run_id}" / "uploads"))
# No short time limits: a loaded machine must not fail an ingestion that an idle one finishes. The product's
# own limits apply (INGEST_TIME_LIMIT_S 30 min, visibility timeout 35 min); the crash-and-redeliver test moves
# its message past the visibility timeout instead of waiting it out (tests/e2e/test_worker_ingestion.py).
os.environ.setdefault("MAX_UPLOAD_MB", "2")

from config.env import parse_database_url  # noqa: E402
from config.settings import *  # noqa: E402,F403
from config.settings import DATABASE_SUPERUSER_URL, DATABASES  # noqa: E402

# The test database has its own two roles (config.db_roles), so that a shared server's service roles are never
# touched; tests.conftest creates them and the database, as a superuser (the embedded server's, or
# DATABASE_SUPERUSER_URL, or else DATABASE_URL). Migrations run as the owner; the tests' own connection logs in
# as the superuser and works as the application role (SET ROLE), so that a test may still tamper as the
# superuser inside its transaction (tests.conftest.as_superuser); the Celery workers log in as the
# application role itself.
TEST_DATABASE_NAME = "test_emanet"
TEST_OWNER_ROLE = "emanet_test_owner"
TEST_APP_ROLE = "emanet_test_app"
# Over a unix socket the embedded server asks for none; a server reached over TCP gets this one.
TEST_ROLE_PASSWORD = os.environ.get("EMANET_TEST_DB_PASSWORD", "emanet-test-only")
if os.environ.get("EMANET_TEST_WORKER") == "1":
    # A worker started by the tests works on the database pytest created, as the application role
    # (tests.conftest.worker_env sets DATABASE_URL).
    DATABASES["default"]["NAME"] = TEST_DATABASE_NAME
else:
    _superuser = parse_database_url(DATABASE_SUPERUSER_URL or os.environ["DATABASE_URL"])
    DATABASES["default"] = {
        **_superuser,
        "NAME": DATABASES["default"]["NAME"],
        "ENGINE": "config.testdb",  # flushes as the superuser, past the audit tables' TRUNCATE guard
        "OPTIONS": {**dict(_superuser["OPTIONS"]), "assume_role": TEST_APP_ROLE},  # type: ignore[call-overload]
    }
    DATABASE_OWNER = {**_superuser, "USER": TEST_OWNER_ROLE, "PASSWORD": TEST_ROLE_PASSWORD}
DATABASES["default"]["TEST"] = {"NAME": TEST_DATABASE_NAME}
# Tests roll their checkpoints back; a witness file outliving them would read as checkpoints removed. The tests
# of the witness give it a file of their own.
AUDIT_CHECKPOINT_WITNESS = ""
DATABASES["default"]["CONN_MAX_AGE"] = 0

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
from config.settings import CELERY_BROKER_TRANSPORT_OPTIONS  # noqa: E402

# Sweep for unacknowledged messages every 2 s (default: about every 100 s) so redelivery tests stay short.
CELERY_BROKER_TRANSPORT_OPTIONS.update({"unacked_restore_interval": 2, "unacked_restore_throttle": 1})

# Tests render pages without running collectstatic first: unhashed static URLs (the manifest storage of
# config.settings needs collectstatic's manifest).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
