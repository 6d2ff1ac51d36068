"""Where uploaded originals live on disk (MEDIA_ROOT); the only module that touches those files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings


class UploadTooLarge(Exception):
    def __init__(self, limit_mb: int) -> None:
        super().__init__(f"The file is larger than the {limit_mb} MB upload limit (MAX_UPLOAD_MB).")
        self.limit_mb = limit_mb


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    sha256: str
    size: int


def root() -> Path:
    return Path(settings.MEDIA_ROOT)


def absolute(relative_path: str) -> Path:
    path = (root() / relative_path).resolve()
    if root().resolve() not in path.parents:
        raise ValueError("stored path escapes MEDIA_ROOT")
    return path


def store(stream: BinaryIO, *, suffix: str) -> StoredFile:
    """Copy the stream to a new file while hashing it; stop as soon as it exceeds MAX_UPLOAD_MB."""
    limit = settings.MAX_UPLOAD_MB * 1024 * 1024
    name = f"{uuid.uuid4().hex}{suffix.lower()[:10]}"
    relative = f"{name[:2]}/{name}"
    target = root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            while block := stream.read(1024 * 1024):
                size += len(block)
                if size > limit:
                    raise UploadTooLarge(settings.MAX_UPLOAD_MB)
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return StoredFile(relative_path=relative, sha256=digest.hexdigest(), size=size)


def read(relative_path: str) -> bytes:
    return absolute(relative_path).read_bytes()


def delete(relative_path: str) -> None:
    if relative_path:
        with contextlib.suppress(FileNotFoundError):
            absolute(relative_path).unlink()
