"""Hardware fit: will a model, at a quantization, context length and concurrency, fit the GPUs (or CPU RAM)?

A pure primitive: no database, no Django models, no network. The figures and their sources are in
docs/model-fit.md. In short, per device (one GPU of a tensor-parallel group, or the CPU host):

    needed    = weights / tp + KV cache per device + runtime overhead
    weights   = params x bytes per weight (QUANTIZATIONS); fp8/int8/AWQ/GPTQ keep the embeddings (and an
                untied lm_head) at 2 bytes a weight
    KV cache  = 2 (K and V) x layers x ceil(kv_heads / tp) x head_dim x KV bytes x tokens,
                tokens = context x concurrency
    available = smallest GPU x gpu_memory_utilization  (vLLM's budget covers weights, activations and KV cache)
                or the CPU RAM given to the server
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from inference.serve_config import compose_service, serve_args, vllm_command

GIB = 1024**3
MAX_CONFIG_BYTES = 1024 * 1024

# vLLM allocates the KV cache in blocks of this many tokens (--block-size, default 16):
# https://docs.vllm.ai/en/latest/configuration/engine_args.html (--block-size)
KV_BLOCK_TOKENS = 16

# Runtime overhead per device: CUDA context and non-torch allocations, the profiled activation peak and the
# captured CUDA graphs. vLLM measures these at start-up (a profiling forward pass, then graph capture) and
# carves the KV cache from what is left of total x gpu_memory_utilization:
# https://docs.vllm.ai/en/latest/configuration/conserving_memory.html
# An estimate, rounded up from what vLLM logs for 7-9B models (about 0.8 GiB: activation peak ~0.2 GiB,
# torch.compile ~0.1 GiB, CUDA graphs ~0.25 GiB, non-torch ~0.25 GiB). The CPU build runs eagerly but
# pays the Python process and the oneDNN/IPEX buffers; the same constant is used.
RUNTIME_OVERHEAD_GIB = 1.0


@dataclass(frozen=True)
class Quantization:
    key: str
    label: str
    bits_per_weight: float
    vllm_flags: tuple[str, ...]
    # vLLM's fp8/int8/AWQ/GPTQ quantize the linear layers only: the token embeddings and an untied lm_head stay
    # in the checkpoint's 16-bit dtype (AWQ/GPTQ checkpoints list them as unquantized modules; vLLM's fp8
    # skips them: https://docs.vllm.ai/en/latest/features/quantization/fp8.html). GGUF's effective bits per
    # weight already cover every tensor of the file.
    embeddings_16bit: bool = False

    @property
    def bytes_per_weight(self) -> float:
        return self.bits_per_weight / 8


QUANTIZATIONS: dict[str, Quantization] = {
    q.key: q
    for q in (
        # 16-bit floats: 2 bytes. vLLM flag --dtype:
        # https://docs.vllm.ai/en/latest/configuration/engine_args.html (--dtype)
        Quantization("bf16", "BF16", 16.0, ("--dtype", "bfloat16")),
        Quantization("fp16", "FP16", 16.0, ("--dtype", "float16")),
        # FP8 W8A8, 1 byte a weight (per-tensor/per-channel scales are negligible); dynamic from a 16-bit
        # checkpoint with --quantization fp8: https://docs.vllm.ai/en/latest/features/quantization/fp8.html
        Quantization("fp8", "FP8 (W8A8)", 8.0, ("--quantization", "fp8"), embeddings_16bit=True),
        # INT8 W8A8 checkpoints made by llm-compressor, loaded as compressed-tensors:
        # https://docs.vllm.ai/en/latest/features/quantization/int8.html
        Quantization(
            "int8", "INT8 (W8A8)", 8.0, ("--quantization", "compressed-tensors"), embeddings_16bit=True
        ),
        # AWQ / GPTQ 4-bit, group size 128: 4 bits + one fp16 scale (16 bits) + one packed 4-bit zero point
        # per 128 weights = 4 + 16/128 + 4/128 = 4.15625 bits. AWQ: https://arxiv.org/abs/2306.00978 and
        # https://docs.vllm.ai/en/latest/features/quantization/auto_awq.html ; GPTQ:
        # https://docs.vllm.ai/en/latest/features/quantization/gptq.html . The Marlin kernels are vLLM's fast
        # path for both (compute capability >= 8.0).
        Quantization(
            "awq", "AWQ INT4 (g128)", 4.15625, ("--quantization", "awq_marlin"), embeddings_16bit=True
        ),
        Quantization(
            "gptq", "GPTQ INT4 (g128)", 4.15625, ("--quantization", "gptq_marlin"), embeddings_16bit=True
        ),
        # GGUF effective bits per weight published by llama.cpp for Llama-3.1-8B (Q8_0 = 32 int8 + one fp16
        # scale per block = 8.5; Q4_K_M mixes Q4_K with Q6_K tensors):
        # https://github.com/ggml-org/llama.cpp/blob/master/tools/quantize/README.md
        # vLLM loads a single-file GGUF: https://docs.vllm.ai/en/latest/features/quantization/gguf.html
        Quantization("gguf_q8_0", "GGUF Q8_0", 8.5, ("--quantization", "gguf")),
        Quantization("gguf_q4_k_m", "GGUF Q4_K_M", 4.8944, ("--quantization", "gguf")),
    )
}

# The order in which a quantization is suggested: least aggressive first.
GPU_SUGGESTION_ORDER = ("bf16", "fp8", "int8", "awq")
CPU_SUGGESTION_ORDER = ("bf16", "gguf_q8_0", "gguf_q4_k_m")

# --kv-cache-dtype: "auto" keeps the model's activation dtype (2 bytes); fp8 variants store 1 byte:
# https://docs.vllm.ai/en/latest/features/quantization/quantized_kvcache.html
KV_CACHE_BYTES = {"auto": 2, "bfloat16": 2, "fp16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}

# Architectures whose q/k/v projections carry a bias (Qwen2: config.json has no attention_bias key).
_QKV_BIAS_MODEL_TYPES = {"qwen2"}


class FitError(ValueError):
    """The inputs cannot be evaluated (unknown quantization, no device, malformed config)."""


@dataclass(frozen=True)
class ModelShape:
    name: str
    params: int
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_dim: int
    max_context: int
    # Token embeddings plus an untied output projection (vocab x hidden each): kept at 16 bits by the
    # quantizations that only quantize linear layers (Quantization.embeddings_16bit).
    embedding_params: int = 0
    # The MLP's width (config.json intermediate_size); 0 when unknown. vLLM shards it across tensor-parallel ranks.
    intermediate_size: int = 0

    def weight_bytes(self, quantization: Quantization) -> float:
        """Bytes of the weights at this quantization."""
        if not quantization.embeddings_16bit:
            return self.params * quantization.bytes_per_weight
        embeddings = min(self.embedding_params, self.params)
        return (self.params - embeddings) * quantization.bytes_per_weight + embeddings * 2


def estimate_params(config: Mapping[str, Any]) -> int:
    """Parameter count of a Llama-style decoder from its config.json.

    embeddings vocab x hidden (twice unless tie_word_embeddings)
    + per layer: q and o projections 2 x hidden x heads x head_dim, k and v 2 x hidden x kv_heads x head_dim,
      a q/k/v bias (heads + 2 x kv_heads) x head_dim where the architecture has one (Qwen2), gated MLP
      3 x hidden x intermediate, two RMSNorm weights 2 x hidden
    + the final norm, hidden.
    Exact for Llama, Mistral, Qwen2 and SmolLM2 (the safetensors totals); an estimate for others.
    """
    try:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        heads = int(config["num_attention_heads"])
        vocab = int(config["vocab_size"])
        intermediate = int(config["intermediate_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FitError(f"config.json lacks what a parameter estimate needs: {exc}") from exc
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    q_width, kv_width = heads * head_dim, kv_heads * head_dim
    bias = bool(config.get("attention_bias", config.get("model_type") in _QKV_BIAS_MODEL_TYPES))
    per_layer = (
        2 * hidden * q_width
        + 2 * hidden * kv_width
        + ((q_width + 2 * kv_width) if bias else 0)
        + 3 * hidden * intermediate
        + 2 * hidden
    )
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings", False) else 2)
    return embeddings + layers * per_layer + hidden


def _embedding_params(config: Mapping[str, Any]) -> int:
    vocab, hidden = int(config.get("vocab_size") or 0), int(config["hidden_size"])
    return vocab * hidden * (1 if config.get("tie_word_embeddings", False) else 2)


def shape_from_config(config: Mapping[str, Any], *, name: str | None = None) -> ModelShape:
    """A ModelShape from a Hugging Face config.json dict.

    params: config["num_parameters"] when present (not a standard key; presets and callers may set it),
    otherwise estimate_params(config).
    """
    try:
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        shape = ModelShape(
            name=name or str(config.get("_name_or_path") or config.get("model_type") or "model"),
            params=int(config.get("num_parameters") or estimate_params(config)),
            layers=int(config["num_hidden_layers"]),
            hidden_size=hidden,
            heads=heads,
            kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            max_context=int(config["max_position_embeddings"]),
            embedding_params=_embedding_params(config),
            intermediate_size=int(config.get("intermediate_size") or 0),
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise FitError(f"not a decoder config.json: {exc}") from exc
    return shape


def shape_from_config_file(path: Path, *, name: str | None = None) -> ModelShape:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise FitError(f"{path} is larger than a config.json ({MAX_CONFIG_BYTES:,} bytes)")
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FitError(f"cannot read {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise FitError(f"{path} is not a JSON object")
    return shape_from_config(config, name=name or path.parent.name)


def shape_from_gguf(path: Path, *, name: str | None = None) -> ModelShape:
    """A ModelShape from a GGUF file's metadata (the `gguf` package's reader; the weights are memory-mapped,
    not read). params: the sum of the tensors' element counts. Keys: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
    """
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file fails in many ways inside the reader
        raise FitError(f"cannot read GGUF {path}: {exc}") from exc

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    arch = value("general.architecture")
    try:
        hidden = int(value(f"{arch}.embedding_length"))
        heads = int(value(f"{arch}.attention.head_count"))
        return ModelShape(
            name=name or str(value("general.name") or path.stem),
            params=sum(int(tensor.n_elements) for tensor in reader.tensors),
            layers=int(value(f"{arch}.block_count")),
            hidden_size=hidden,
            heads=heads,
            kv_heads=int(value(f"{arch}.attention.head_count_kv") or heads),
            head_dim=int(value(f"{arch}.attention.key_length") or hidden // heads),
            max_context=int(value(f"{arch}.context_length")),
            embedding_params=sum(
                int(tensor.n_elements)
                for tensor in reader.tensors
                if tensor.name in ("token_embd.weight", "output.weight")
            ),
            intermediate_size=int(value(f"{arch}.feed_forward_length") or 0),
        )
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise FitError(f"{path}: GGUF metadata lacks a decoder's shape ({exc})") from exc


@dataclass(frozen=True)
class Fit:
    model: str
    device: str  # "gpu" or "cpu"
    quantization: str
    context: int
    concurrency: int
    tensor_parallel_size: int
    weights_gib: float
    weights_gib_per_device: float
    kv_bytes_per_token: int
    kv_bytes_per_token_per_device: int
    kv_cache_gib: float
    kv_cache_gib_per_device: float
    overhead_gib_per_device: float
    needed_gib_per_device: float
    available_gib_per_device: float
    fits: bool
    max_context: int  # at this concurrency (0: not even one block)
    max_concurrency: int  # at this context
    suggested_quantization: str | None
    reasons: tuple[str, ...]
    vllm_command: str
    compose_service: str


@dataclass(frozen=True)
class _Budget:
    tp: int
    weights: float  # bytes per device
    kv_per_token: int  # bytes per token per device
    overhead: float
    available: float
    tokens: int  # KV tokens that fit per device


def kv_bytes_per_token(shape: ModelShape, *, kv_cache_dtype: str = "auto", tp: int = 1) -> int:
    """2 (K and V) x layers x KV heads on one device x head_dim x bytes. KV heads split across tensor-parallel
    ranks; when tp exceeds them vLLM replicates them, one per rank."""
    if kv_cache_dtype not in KV_CACHE_BYTES:
        raise FitError(f"unknown kv_cache_dtype {kv_cache_dtype!r}; one of {sorted(KV_CACHE_BYTES)}")
    kv_heads = math.ceil(shape.kv_heads / tp)
    return 2 * shape.layers * kv_heads * shape.head_dim * KV_CACHE_BYTES[kv_cache_dtype]


def kv_cache_tokens(
    shape: ModelShape, *, kv_cache_gib: float, kv_cache_dtype: str = "auto", tp: int = 1
) -> int:
    """Tokens a KV cache of this size holds, in whole blocks: what vLLM reports at start-up as its KV cache
    size (on the CPU build kv_cache_gib is VLLM_CPU_KVCACHE_SPACE)."""
    per_block = kv_bytes_per_token(shape, kv_cache_dtype=kv_cache_dtype, tp=tp) * KV_BLOCK_TOKENS
    return math.floor(kv_cache_gib * GIB / per_block) * KV_BLOCK_TOKENS


def tensor_parallel_size(shape: ModelShape, gpu_count: int) -> int:
    """The GPUs given, or fewer: vLLM needs the attention heads and the MLP width (when known) divisible by the
    tensor-parallel size, and the KV heads either divisible by it or dividing it (each rank then holds a
    replica)."""
    for tp in range(max(gpu_count, 1), 0, -1):
        kv, mlp = shape.kv_heads, shape.intermediate_size
        if shape.heads % tp == 0 and (kv % tp == 0 or tp % kv == 0) and (not mlp or mlp % tp == 0):
            return tp
    return 1


def _budget(
    shape: ModelShape,
    *,
    quantization: str,
    gpus_gib: Sequence[float] | None,
    cpu_ram_gib: float | None,
    gpu_memory_utilization: float,
    kv_cache_dtype: str,
) -> _Budget:
    if quantization not in QUANTIZATIONS:
        raise FitError(f"unknown quantization {quantization!r}; one of {sorted(QUANTIZATIONS)}")
    if gpus_gib:
        if not 0 < gpu_memory_utilization <= 1:
            raise FitError("gpu_memory_utilization must be in (0, 1]")
        tp = tensor_parallel_size(shape, len(gpus_gib))
        # Tensor parallel ranks are symmetric: the smallest of the GPUs used bounds each rank.
        available = sorted(gpus_gib, reverse=True)[tp - 1] * GIB * gpu_memory_utilization
    elif cpu_ram_gib:
        tp = 1
        available = cpu_ram_gib * GIB
    else:
        raise FitError("give the GPUs' memory (gpus_gib) or the CPU RAM (cpu_ram_gib)")
    weights = shape.weight_bytes(QUANTIZATIONS[quantization]) / tp
    kv_per_token = kv_bytes_per_token(shape, kv_cache_dtype=kv_cache_dtype, tp=tp)
    overhead = RUNTIME_OVERHEAD_GIB * GIB
    tokens = max(0, math.floor((available - weights - overhead) / kv_per_token))
    return _Budget(tp, weights, kv_per_token, overhead, available, tokens)


def _blocks(tokens: int) -> int:
    return math.ceil(tokens / KV_BLOCK_TOKENS)


def _fits(budget: _Budget, shape: ModelShape, *, context: int, concurrency: int) -> bool:
    return context <= shape.max_context and concurrency * _blocks(context) * KV_BLOCK_TOKENS <= budget.tokens


def fit(
    shape: ModelShape,
    *,
    quantization: str,
    context: int,
    concurrency: int = 1,
    gpus_gib: Sequence[float] | None = None,
    cpu_ram_gib: float | None = None,
    gpu_memory_utilization: float = 0.9,
    kv_cache_dtype: str = "auto",
    model: str | None = None,
    served_name: str | None = None,
) -> Fit:
    """Memory for weights + KV cache + runtime overhead against the GPU(s) given, or CPU RAM.

    The KV cache holds context x concurrency tokens, rounded up to whole KV blocks per sequence.
    `model` is what `vllm serve` is given (a path or a hub name); the shape's name by default. `served_name`:
    the registry's name for it, passed as --served-model-name so the serving gate recognises it.
    """
    if context < 1 or concurrency < 1:
        raise FitError("context and concurrency must be at least 1")
    device = "gpu" if gpus_gib else "cpu"

    def budget_for(q: str) -> _Budget:
        return _budget(
            shape,
            quantization=q,
            gpus_gib=gpus_gib,
            cpu_ram_gib=cpu_ram_gib,
            gpu_memory_utilization=gpu_memory_utilization,
            kv_cache_dtype=kv_cache_dtype,
        )

    budget = budget_for(quantization)
    tokens = context * concurrency
    kv_device = budget.kv_per_token * tokens
    needed = budget.weights + kv_device + budget.overhead
    fits = _fits(budget, shape, context=context, concurrency=concurrency)
    reasons: list[str] = []
    if context > shape.max_context:
        reasons.append(f"context {context} exceeds the model's maximum {shape.max_context}")
    if budget.weights + budget.overhead > budget.available:
        reasons.append("the weights and runtime overhead alone exceed the memory available")
    elif not fits and context <= shape.max_context:
        reasons.append(f"the KV cache for {tokens} tokens exceeds the {budget.tokens} tokens that fit")
    max_context = min(shape.max_context, budget.tokens // concurrency // KV_BLOCK_TOKENS * KV_BLOCK_TOKENS)
    max_concurrency = budget.tokens // (_blocks(context) * KV_BLOCK_TOKENS)
    order = GPU_SUGGESTION_ORDER if device == "gpu" else CPU_SUGGESTION_ORDER
    suggested = next(
        (q for q in order if _fits(budget_for(q), shape, context=context, concurrency=concurrency)),
        None,
    )
    served = model or shape.name
    kv_cache_gib_device = kv_device / GIB
    flags = QUANTIZATIONS[quantization].vllm_flags
    command = vllm_command(
        served,
        quantization_flags=flags,
        context=context,
        concurrency=concurrency,
        device=device,
        tensor_parallel_size=budget.tp,
        gpu_memory_utilization=gpu_memory_utilization,
        kv_cache_dtype=kv_cache_dtype,
        cpu_kv_cache_gib=math.ceil(kv_cache_gib_device),
        served_name=served_name,
    )
    return Fit(
        model=served,
        device=device,
        quantization=quantization,
        context=context,
        concurrency=concurrency,
        tensor_parallel_size=budget.tp,
        weights_gib=budget.weights * budget.tp / GIB,
        weights_gib_per_device=budget.weights / GIB,
        kv_bytes_per_token=kv_bytes_per_token(shape, kv_cache_dtype=kv_cache_dtype),
        kv_bytes_per_token_per_device=budget.kv_per_token,
        kv_cache_gib=kv_bytes_per_token(shape, kv_cache_dtype=kv_cache_dtype) * tokens / GIB,
        kv_cache_gib_per_device=kv_cache_gib_device,
        overhead_gib_per_device=budget.overhead / GIB,
        needed_gib_per_device=needed / GIB,
        available_gib_per_device=budget.available / GIB,
        fits=fits,
        max_context=max(0, max_context),
        max_concurrency=max_concurrency,
        suggested_quantization=suggested,
        reasons=tuple(reasons),
        vllm_command=command,
        compose_service=compose_service(
            served,
            args=serve_args(
                quantization_flags=flags,
                context=context,
                concurrency=concurrency,
                device=device,
                tensor_parallel_size=budget.tp,
                gpu_memory_utilization=gpu_memory_utilization,
                kv_cache_dtype=kv_cache_dtype,
                served_name=served_name,
            ),
            device=device,
            gpu_count=budget.tp,
            cpu_kv_cache_gib=math.ceil(kv_cache_gib_device),
        ),
    )
