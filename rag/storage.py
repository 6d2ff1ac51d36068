"""Where uploaded originals live on disk (MEDIA_ROOT); the only module that touches those files.

Every original is encrypted at rest (governance.filecrypt): a fresh data key per file, wrapped by the
key-encryption key FILE_ENCRYPTION_KEY. The wrapped key is kept on the Document row, never beside the file, so
deleting the row shreds the file even in backups of the file store. Files are 0600 and folders 0700 whatever
the process umask. Everything that reads an original — ingestion, re-processing, data-subject searches — reads
it through ``read_document``.

Files stored before encryption (no wrapped key on their row) are still read as they are; ``manage.py
encrypt_uploads`` encrypts them (rag.services.file_keys).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from django.conf import settings

from governance import filecrypt

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


class UploadTooLarge(Exception):
    def __init__(self, limit_mb: int) -> None:
        super().__init__(f"The file is larger than the {limit_mb} MB upload limit (MAX_UPLOAD_MB).")
        self.limit_mb = limit_mb


class FileUnreadable(Exception):
    """The stored file exists but cannot be decrypted (wrong or missing key, altered file). The message is
    safe to show: it names the key id, never key material or file content."""


class StoredOriginal(Protocol):
    """What a stored original is known by (a Document has these fields)."""

    file_path: str
    file_key: str
    file_key_id: str


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    sha256: str
    size: int
    wrapped_key: str
    key_id: str


def root() -> Path:
    return Path(settings.MEDIA_ROOT)


def absolute(relative_path: str) -> Path:
    path = (root() / relative_path).resolve()
    if root().resolve() not in path.parents:
        raise ValueError("stored path escapes MEDIA_ROOT")
    return path


def _private_dir(path: Path) -> None:
    """Create ``path`` (and MEDIA_ROOT) as 0700; tighten folders made by an older version (0755)."""
    for folder in (root(), path):
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        try:
            if stat.S_IMODE(folder.stat().st_mode) != DIR_MODE:
                folder.chmod(DIR_MODE)
        except PermissionError:  # a mount owned by someone else: its owner sets the mode
            logger.warning("cannot set %s to 0700; make it private to the service user", folder)


def _create_private(path: Path) -> BinaryIO:
    # O_EXCL: never write into a file that already exists (a name collision or a planted link).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # the mode given to open() is narrowed by the umask, never widened: be explicit
    return os.fdopen(fd, "wb")


def _new_relative(suffix: str) -> str:
    name = f"{uuid.uuid4().hex}{suffix.lower()[:10]}"
    return f"{name[:2]}/{name}"


def store(stream: BinaryIO, *, suffix: str) -> StoredFile:
    """Encrypt the stream into a new file while hashing its plaintext; stop as soon as it exceeds
    MAX_UPLOAD_MB. The caller keeps ``wrapped_key`` and ``key_id`` with the path (Document.file_key…)."""
    return _store(stream, suffix=suffix, limit_mb=settings.MAX_UPLOAD_MB)


def _store(stream: BinaryIO, *, suffix: str, limit_mb: int | None) -> StoredFile:
    limit = None if limit_mb is None else limit_mb * 1024 * 1024
    relative = _new_relative(suffix)
    target = root() / relative
    _private_dir(target.parent)
    kek = filecrypt.current_kek()
    data_key = filecrypt.new_data_key()
    digest = hashlib.sha256()
    size = 0
    try:
        with _create_private(target) as out:
            writer = filecrypt.EncryptingWriter(out, data_key=data_key)
            while block := stream.read(1024 * 1024):
                size += len(block)
                if limit is not None and size > limit:
                    raise UploadTooLarge(limit_mb or 0)
                digest.update(block)
                writer.write(block)
            writer.finish()
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return StoredFile(
        relative_path=relative,
        sha256=digest.hexdigest(),
        size=size,
        wrapped_key=filecrypt.wrap(data_key, kek=kek, name=relative),
        key_id=kek.id,
    )


def read(relative_path: str, *, wrapped_key: str, key_id: str) -> bytes:
    """The plaintext of a stored original. Raises FileNotFoundError (gone), ValueError (a path outside
    MEDIA_ROOT) or FileUnreadable (cannot be decrypted)."""
    path = absolute(relative_path)
    if not wrapped_key:
        # Stored before encryption at rest; `manage.py encrypt_uploads` converts it.
        data = path.read_bytes()
        if filecrypt.is_encrypted(data[:8]):
            raise FileUnreadable("The stored file is encrypted but its document has no data key.")
        return data
    try:
        data_key = filecrypt.unwrap(wrapped_key, kek_id=key_id, name=relative_path)
        with path.open("rb") as source:
            return b"".join(filecrypt.decrypt_chunks(source, data_key=data_key))
    except filecrypt.FileKeyError as exc:
        raise FileUnreadable(f"The stored file cannot be decrypted: {exc}.") from exc


def read_document(document: StoredOriginal) -> bytes:
    return read(document.file_path, wrapped_key=document.file_key, key_id=document.file_key_id)


def rewrap(document: StoredOriginal, *, to: filecrypt.Kek) -> str:
    """The document's data key wrapped by ``to`` (key rotation); raises FileUnreadable."""
    try:
        return filecrypt.rewrap(
            document.file_key, kek_id=document.file_key_id, name=document.file_path, to=to
        )
    except filecrypt.FileKeyError as exc:
        raise FileUnreadable(f"The data key cannot be re-wrapped: {exc}.") from exc


def encrypt_legacy(relative_path: str) -> StoredFile:
    """Encrypt a file stored in clear by an older version into a new file; the caller records the new path
    and key, then deletes the old file (after its transaction commits)."""
    source = absolute(relative_path)
    with source.open("rb") as handle:
        if filecrypt.is_encrypted(handle.read(8)):
            raise FileUnreadable("The stored file is already encrypted.")
        handle.seek(0)
        # No size limit: the file was accepted under the limit of its day.
        return _store(handle, suffix=Path(relative_path).suffix, limit_mb=None)


def delete(relative_path: str) -> None:
    if relative_path:
        with contextlib.suppress(FileNotFoundError):
            absolute(relative_path).unlink()
