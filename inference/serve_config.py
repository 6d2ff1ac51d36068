"""What a hardware fit emits: the `vllm serve` command line and a docker-compose service for the model server,
with the context, concurrency, memory, quantization and tensor-parallel flags the fit chose. Pure text."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence


def serve_args(
    *,
    quantization_flags: Sequence[str],
    context: int,
    concurrency: int,
    device: str,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
    kv_cache_dtype: str,
    served_name: str | None = None,
) -> list[str]:
    """The flags; ``served_name``: the name the registry knows the model by (``--served-model-name``), so the
    serving gate finds it."""
    args = ["--served-model-name", served_name] if served_name else []
    args += ["--max-model-len", str(context), "--max-num-seqs", str(concurrency)]
    if device == "gpu":
        args += ["--gpu-memory-utilization", f"{gpu_memory_utilization:g}"]
    # The Marlin kernels are CUDA-only; the CPU build loads AWQ/GPTQ checkpoints with its own kernels.
    args += [flag.removesuffix("_marlin") if device == "cpu" else flag for flag in quantization_flags]
    if device == "gpu":
        args += ["--tensor-parallel-size", str(tensor_parallel_size)]
    if kv_cache_dtype != "auto":
        args += ["--kv-cache-dtype", kv_cache_dtype]
    return args


def vllm_command(
    model: str,
    *,
    quantization_flags: Sequence[str],
    context: int,
    concurrency: int,
    device: str,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
    kv_cache_dtype: str,
    cpu_kv_cache_gib: int,
    served_name: str | None = None,
) -> str:
    """The `vllm serve` command line. On the CPU build the KV cache is sized by VLLM_CPU_KVCACHE_SPACE (GiB):
    https://docs.vllm.ai/en/latest/getting_started/installation/cpu.html"""
    args = serve_args(
        quantization_flags=quantization_flags,
        context=context,
        concurrency=concurrency,
        device=device,
        tensor_parallel_size=tensor_parallel_size,
        gpu_memory_utilization=gpu_memory_utilization,
        kv_cache_dtype=kv_cache_dtype,
        served_name=served_name,
    )
    prefix = f"VLLM_CPU_KVCACHE_SPACE={max(1, cpu_kv_cache_gib)} " if device == "cpu" else ""
    return prefix + shlex.join(["vllm", "serve", model, *args])


# vLLM publishes no CPU image on Docker Hub; build one from docker/Dockerfile.cpu:
# https://docs.vllm.ai/en/latest/getting_started/installation/cpu.html
CPU_IMAGE_LINE = "  image: ${VLLM_CPU_IMAGE:?build vLLM's docker/Dockerfile.cpu and name the image here}"


def compose_service(
    model: str, *, args: Sequence[str], device: str, gpu_count: int, cpu_kv_cache_gib: int
) -> str:
    """A docker-compose service (YAML text) shaped like the `vllm` service of docker-compose.yml: the weights
    are read from ./models/<the model's last path segment> (offline: no hub download), served under the
    registry's name (or emanet-llm, docker-compose.yml's LLM_MODEL default)."""
    name = ["--served-model-name", "emanet-llm"] if "--served-model-name" not in args else []
    weights = "/models/" + (model.rstrip("/").rsplit("/", 1)[-1] or "model")
    command = ", ".join(json.dumps(a) for a in ["--model", weights, *name, *args])
    lines = [
        "vllm:",
        "  image: vllm/vllm-openai:v0.11.0" if device == "gpu" else CPU_IMAGE_LINE,
        "  restart: unless-stopped",
        f"  command: [{command}]",
        "  environment:",
        '    HF_HUB_OFFLINE: "1"',
        '    VLLM_NO_USAGE_STATS: "1"',
    ]
    if device == "cpu":
        lines.append(f'    VLLM_CPU_KVCACHE_SPACE: "{max(1, cpu_kv_cache_gib)}"')
    lines += ["  volumes:", "    - ./models:/models:ro", "  ipc: host"]
    if device == "gpu":
        lines += [
            "  deploy:",
            "    resources:",
            "      reservations:",
            "        devices:",
            "          - driver: nvidia",
            f"            count: {gpu_count}",
            "            capabilities: [gpu]",
        ]
    return "\n".join(lines) + "\n"
