"""Published config.json values of well-known models, for ``manage.py model_fit --preset`` and the tests of
inference.hardware (each value with its source)."""

from __future__ import annotations

from typing import Any

from inference.hardware import FitError, ModelShape, shape_from_config

# Published config.json values. params: the safetensors totals, which estimate_params reproduces exactly.
PRESETS: dict[str, dict[str, Any]] = {
    # https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/blob/main/config.json
    "llama-3.1-8b-instruct": {
        "_name_or_path": "meta-llama/Llama-3.1-8B-Instruct",
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
        "vocab_size": 128256,
        "tie_word_embeddings": False,
    },
    # https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/config.json (model card: 7.61B parameters)
    "qwen2.5-7b-instruct": {
        "_name_or_path": "Qwen/Qwen2.5-7B-Instruct",
        "model_type": "qwen2",
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "max_position_embeddings": 32768,
        "vocab_size": 152064,
        "tie_word_embeddings": False,
    },
    # https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.3/blob/main/config.json
    "mistral-7b-instruct-v0.3": {
        "_name_or_path": "mistralai/Mistral-7B-Instruct-v0.3",
        "model_type": "mistral",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "max_position_embeddings": 32768,
        "vocab_size": 32768,
        "tie_word_embeddings": False,
    },
    # https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/blob/main/config.json (the bundled model)
    "smollm2-135m-instruct": {
        "_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "model_type": "llama",
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "head_dim": 64,
        "max_position_embeddings": 8192,
        "vocab_size": 49152,
        "tie_word_embeddings": True,
    },
}


def preset_shape(name: str) -> ModelShape:
    try:
        config = PRESETS[name]
    except KeyError as exc:
        raise FitError(f"unknown preset {name!r}; one of {sorted(PRESETS)}") from exc
    return shape_from_config(config, name=str(config["_name_or_path"]))
