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

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES  # noqa: E402

TEST_DATABASE_NAME = "test_emanet"
DATABASES["default"]["TEST"] = {"NAME": TEST_DATABASE_NAME}
if os.environ.get("EMANET_TEST_WORKER") == "1":
    # A worker started by the tests works on the database pytest created.
    DATABASES["default"]["NAME"] = TEST_DATABASE_NAME
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
