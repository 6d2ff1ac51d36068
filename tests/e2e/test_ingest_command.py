from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from rag.models import Collection, Document
from tests.conftest import INVENTORY, WorkerProcess
from tests.files import make_pdf

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_bulk_ingest_walks_folders_waits_and_reports_failures(
    celery_worker: WorkerProcess, alice: Any, collection_a: Collection, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "handbook.md").write_text("# Handbook\nWelcome to the company. Lunch is at noon.")
    (tmp_path / "sub" / "policy.pdf").write_bytes(make_pdf(["Remote work is allowed two days a week."]))
    (tmp_path / "sub" / "broken.pdf").write_bytes(b"%PDF-1.5 not really")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.txt").write_text("should be skipped")
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("ingest", str(tmp_path), "--collection", "A", "--user", "alice", stdout=out, verbosity=0)
    assert exit_info.value.code == 1
    report = out.getvalue()
    assert "Queued 3 file(s) into 'A' (0 already present)." in report
    assert "Ready: 2" in report and "Failed: 1" in report
    assert "FAILED " + str(tmp_path / "sub" / "broken.pdf") + ": The PDF file is damaged" in report
    assert set(Document.objects.values_list("original_filename", "status")) == {
        ("handbook.md", "ready"),
        ("policy.pdf", "ready"),
        ("broken.pdf", "failed"),
    }

    out = io.StringIO()
    call_command(
        "ingest",
        str(tmp_path / "handbook.md"),
        "--collection",
        "A",
        "--user",
        "alice",
        stdout=out,
        verbosity=0,
    )
    assert "(1 already present)" in out.getvalue() and "Ready: 1" in out.getvalue()


def test_unknown_collection_is_an_error_unless_created(alice: Any, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "a.txt").write_text("text")
    with pytest.raises(CommandError, match="not found"):
        call_command("ingest", str(files), "--collection", "New", "--user", "alice", "--no-wait")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(INVENTORY))
    call_command(
        "ingest",
        str(files),
        "--collection",
        "New",
        "--user",
        "alice",
        "--create",
        "--inventory",
        str(inventory),
        "--no-wait",
        stdout=io.StringIO(),
    )
    assert Collection.objects.get(name="New").owner == alice
