"""Facts read from a model's weights on this host: the architecture (config.json or GGUF metadata) and a SHA-256
manifest of the weight files. A primitive: no database."""

from __future__ import annotations

import hashlib
from pathlib import Path

from inference.hardware import FitError, ModelShape, shape_from_config_file, shape_from_gguf

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
_CHUNK = 1024 * 1024


def weight_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES)


def weights_size(path: Path) -> int:
    return sum(file.stat().st_size for file in weight_files(path))


def weights_manifest(path: Path) -> dict[str, str]:
    """SHA-256 of each weight file under ``path`` (a directory, or one GGUF file), by relative name."""
    files = weight_files(path)
    manifest = {}
    for file in files:
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        manifest[file.name if path.is_file() else str(file.relative_to(path))] = digest.hexdigest()
    return manifest


def shape_of(path: Path) -> ModelShape:
    """Architecture facts from a GGUF file, or from the config.json of a Hugging Face model directory."""
    if path.is_file() and path.suffix == ".gguf":
        return shape_from_gguf(path)
    if path.is_file() and path.name != "config.json":
        raise FitError(
            f"{path.name}: give a model directory (with config.json), a config.json or a GGUF file"
        )
    config = path / "config.json" if path.is_dir() else path
    return shape_from_config_file(config)
