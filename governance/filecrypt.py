"""Envelope encryption of files at rest: a fresh random data key per file, wrapped by a key-encryption key.

- The file: AES-256-GCM under its own data key, in chunks of ``CHUNK_BYTES`` so a 50 MB upload never sits
  in memory twice. Each chunk's nonce is its index plus a "last chunk" flag (the STREAM construction): the
  data key is never reused, so counter nonces are safe, and chunks cannot be dropped, reordered or cut off at
  a chunk boundary without the tag check failing. Every chunk authenticates the file header too.
- The data key: wrapped (AES-256-GCM) by the key-encryption key (KEK) from the environment, bound to the
  file's name. The wrapped key lives in the database, not beside the file: deleting it shreds the file, also
  in backups of the file store. A KEK is known by an id (a fingerprint of it), stored with the wrapped key, so
  keys can be rotated: old KEKs stay readable while ``rewrap`` moves data keys under the new one.

This module knows nothing about documents: callers (rag.storage) keep the wrapped key and the id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

MAGIC = b"EMANETF1"
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
_HEADER = struct.Struct(">8sI")  # magic, plaintext chunk size
MIN_SECRET_CHARS = 32


class FileKeyError(Exception):
    """A stored file cannot be decrypted: its key-encryption key is not configured, or the file or its
    wrapped key was altered. The message says which, without any key material."""


@dataclass(frozen=True)
class Kek:
    """A key-encryption key: ``id`` is a public fingerprint, stored next to every data key it wraps."""

    id: str
    key: bytes


def kek_from_secret(secret: str) -> Kek:
    """Derive the KEK from a configured secret (any string of at least MIN_SECRET_CHARS characters)."""
    if len(secret) < MIN_SECRET_CHARS:
        raise FileKeyError(
            f"a file encryption key must be at least {MIN_SECRET_CHARS} characters of random text"
        )
    key = hmac.new(secret.encode(), b"emanet|file-kek|v1", hashlib.sha256).digest()
    fingerprint = hmac.new(secret.encode(), b"emanet|file-kek-id|v1", hashlib.sha256).hexdigest()[:16]
    return Kek(id=f"k1-{fingerprint}", key=key)


def current_kek() -> Kek:
    return kek_from_secret(settings.FILE_ENCRYPTION_KEY)


def keyring() -> dict[str, Kek]:
    """Every KEK that may unwrap a data key: the current one and those being rotated out."""
    keks = [current_kek(), *(kek_from_secret(s) for s in settings.FILE_ENCRYPTION_OLD_KEYS)]
    return {kek.id: kek for kek in reversed(keks)}


def _wrap_aad(kek_id: str, name: str) -> bytes:
    return f"emanet|dek|{kek_id}|{name}".encode()


def wrap(data_key: bytes, *, kek: Kek, name: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(kek.key).encrypt(nonce, data_key, _wrap_aad(kek.id, name))
    return base64.b64encode(nonce + sealed).decode()


def unwrap(wrapped: str, *, kek_id: str, name: str, keys: dict[str, Kek] | None = None) -> bytes:
    keys = keyring() if keys is None else keys
    kek = keys.get(kek_id)
    if kek is None:
        raise FileKeyError(
            f"the file's data key is wrapped by key {kek_id}, which is neither FILE_ENCRYPTION_KEY nor one "
            "of FILE_ENCRYPTION_OLD_KEYS (was the key changed without a rotation?)"
        )
    try:
        raw = base64.b64decode(wrapped, validate=True)
        return AESGCM(kek.key).decrypt(raw[:12], raw[12:], _wrap_aad(kek_id, name))
    except (InvalidTag, ValueError) as exc:
        raise FileKeyError(f"the file's wrapped data key does not open under key {kek_id}") from exc


def rewrap(wrapped: str, *, kek_id: str, name: str, to: Kek, keys: dict[str, Kek] | None = None) -> str:
    """The same data key, wrapped by ``to`` (key rotation: the file itself is not touched)."""
    return wrap(unwrap(wrapped, kek_id=kek_id, name=name, keys=keys), kek=to, name=name)


def _nonce(index: int, *, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter:
    """Write plaintext in, encrypted chunks out to ``out``; ``finish()`` writes the last chunk (possibly
    empty). A chunk is only written once the next byte is known, so the last one can carry its flag."""

    def __init__(self, out: BinaryIO, *, data_key: bytes) -> None:
        self._out = out
        self._aead = AESGCM(data_key)
        self._header = _HEADER.pack(MAGIC, CHUNK_BYTES)
        self._buffer = bytearray()
        self._index = 0
        out.write(self._header)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > CHUNK_BYTES:
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]

    def finish(self) -> None:
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, chunk: bytes, *, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._index, last=last), chunk, self._header))
        self._index += 1


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


def decrypt_chunks(source: BinaryIO, *, data_key: bytes) -> Iterator[bytes]:
    """Yield the plaintext of an encrypted file chunk by chunk; FileKeyError if anything was altered."""
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise FileKeyError("the stored file is truncated (no header)")
    magic, chunk_bytes = _HEADER.unpack(header)
    if magic != MAGIC or not 0 < chunk_bytes <= 64 * CHUNK_BYTES:
        raise FileKeyError("the stored file is not an encrypted Emanet file")
    aead = AESGCM(data_key)
    block = source.read(chunk_bytes + TAG_BYTES)
    index = 0
    while True:
        following = source.read(chunk_bytes + TAG_BYTES)
        last = not following
        try:
            yield aead.decrypt(_nonce(index, last=last), block, header)
        except InvalidTag as exc:
            raise FileKeyError("the stored file was altered or is damaged (authentication failed)") from exc
        if last:
            return
        block, index = following, index + 1


def encrypt_stream(chunks: Iterable[bytes], out: BinaryIO, *, data_key: bytes) -> None:
    writer = EncryptingWriter(out, data_key=data_key)
    for chunk in chunks:
        writer.write(chunk)
    writer.finish()
