"""Provably offline: the whole product works inside a network namespace with no route out.

``unshare`` gives the run its own network namespace holding only a loopback interface (and its own PID
namespace, so every process it starts — PostgreSQL, Redis, vLLM, the worker — ends with it). Inside, a fresh
DATA_DIR, the README's run command and the HTTP API: upload, ingest, search, ask (tests/e2e/offline_stack.py).
If anything needed the outside (a model hub, telemetry, a licence check), a step would fail. The machine's
own Redis or a running development instance cannot stand in: 127.0.0.1 inside is not the host's, and the
embedded servers' sockets live in the fresh DATA_DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, WAIT_S

pytestmark = pytest.mark.slow

UNSHARE = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
# Variables of this test process that would point the stack at the outer test services or pre-set what the
# product must set itself (it sets the hub/telemetry switches on its own).
_DROP = {"DATABASE_URL", "REDIS_URL", "LLM_BASE_URL", "LLM_MODEL", "MEDIA_ROOT", "CELERY_QUEUE", "DEBUG"}
_DROP_PREFIXES = (
    "EMANET_TEST_RUN",
    "HF_",
    "TRANSFORMERS_",
    "VLLM_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


def _unshare_refusal() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare(1) or ip(8) is not installed"
    probe = subprocess.run(  # noqa: S603 - fixed arguments
        [*UNSHARE, "sh", "-c", "ip link set lo up"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        return f"cannot create a network namespace here (unshare -n needs root or user namespaces): {probe.stderr.strip()}"
    return None


def test_upload_ingest_search_and_ask_work_with_no_route_out(tmp_path: Path) -> None:
    refusal = _unshare_refusal()
    if refusal:
        pytest.skip(refusal)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROP and not key.upper().startswith(_DROP_PREFIXES)
    }
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # The converted bundled model is shared with the development install (converting takes ~40 s).
            "LOCAL_LLM_DIR": str(ROOT / ".data" / "models" / "SmolLM2-135M-Instruct"),
        }
    )
    script = ROOT / "tests" / "e2e" / "offline_stack.py"
    run = subprocess.run(  # noqa: S603 - fixed arguments
        [*UNSHARE, "sh", "-c", f'ip link set lo up && exec "{sys.executable}" "{script}"'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=4 * WAIT_S,  # a safety net only: the script bounds each of its waits by WAIT_S
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("OFFLINE-RESULT ")]
    logs = "".join(
        f"{name}:\n{(data_dir / name).read_text(errors='replace')[-4000:]}\n"
        for name in ("serve.log", "vllm.log")
        if (data_dir / name).exists()
    )
    context = f"exit {run.returncode}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}\n{logs}"
    assert lines, context
    result = json.loads(lines[-1].removeprefix("OFFLINE-RESULT "))
    offline = result["offline"]
    assert offline["routes"] == 0 and "connected" not in offline["connect"].values(), result
    assert offline["dns"] != "resolved", result
    assert result.get("passed") is True, f"{result}\n{context}"
    assert run.returncode == 0, context
    assert result["document"]["status"] == "ready" and result["ask"]["model"]
