"""Hardware fit of a model: memory for weights, KV cache and overhead against GPUs or CPU RAM, and the
`vllm serve` command for it. See docs/model-fit.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference import hardware, hardware_presets


class Command(BaseCommand):
    help = "Will a model fit the GPUs (or CPU RAM)? Prints the memory figures and the vllm serve command."

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--config", type=Path, help="path to the model's config.json")
        source.add_argument("--preset", choices=sorted(hardware_presets.PRESETS))
        parser.add_argument("--model", help="what vllm serve is given (default: the config's name)")
        parser.add_argument("--quantization", default="bf16", choices=sorted(hardware.QUANTIZATIONS))
        parser.add_argument("--context", type=int, default=8192)
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument(
            "--gpu-gib", type=float, action="append", help="one GPU's memory in GiB (repeat per GPU)"
        )
        parser.add_argument("--cpu-ram-gib", type=float)
        parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
        parser.add_argument("--kv-cache-dtype", default="auto", choices=sorted(hardware.KV_CACHE_BYTES))
        parser.add_argument("--compose", action="store_true", help="also print a docker-compose service")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["config"] is not None:
                shape = hardware.shape_from_config_file(options["config"])
            else:
                shape = hardware_presets.preset_shape(options["preset"])
            result = hardware.fit(
                shape,
                quantization=options["quantization"],
                context=options["context"],
                concurrency=options["concurrency"],
                gpus_gib=options["gpu_gib"],
                cpu_ram_gib=options["cpu_ram_gib"],
                gpu_memory_utilization=options["gpu_memory_utilization"],
                kv_cache_dtype=options["kv_cache_dtype"],
                model=options["model"],
            )
        except hardware.FitError as exc:
            raise CommandError(str(exc)) from exc
        out = self.stdout
        out.write(
            f"Model: {shape.name} ({shape.params:,} parameters, {shape.layers} layers, "
            f"{shape.kv_heads} KV heads x {shape.head_dim}, max context {shape.max_context})"
        )
        out.write(f"Device: {result.device}, tensor parallel size {result.tensor_parallel_size}")
        out.write(
            f"Quantization: {result.quantization}; context {result.context} x concurrency "
            f"{result.concurrency}"
        )
        out.write(f"Weights:   {result.weights_gib:.2f} GiB ({result.weights_gib_per_device:.2f} per device)")
        out.write(
            f"KV cache:  {result.kv_cache_gib:.2f} GiB ({result.kv_bytes_per_token} bytes/token; "
            f"{result.kv_cache_gib_per_device:.2f} GiB per device)"
        )
        out.write(f"Overhead:  {result.overhead_gib_per_device:.2f} GiB per device")
        out.write(
            f"Needed:    {result.needed_gib_per_device:.2f} GiB per device, available "
            f"{result.available_gib_per_device:.2f} GiB"
        )
        out.write(f"Fits: {'yes' if result.fits else 'no'}")
        for reason in result.reasons:
            out.write(f"  - {reason}")
        out.write(f"Largest context at concurrency {result.concurrency}: {result.max_context}")
        out.write(f"Largest concurrency at context {result.context}: {result.max_concurrency}")
        out.write(f"Suggested quantization: {result.suggested_quantization or 'none fits'}")
        out.write(result.vllm_command)
        if options["compose"]:
            out.write(result.compose_service, ending="")
