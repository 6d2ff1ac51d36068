"""Keeping uploaded originals encrypted: encrypt the files an older version stored in clear, and move data
keys under a new key-encryption key (rotation). Both are idempotent: run them again and they do what is left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction

from governance import filecrypt
from governance.audit import SYSTEM, Actor, audit_record
from rag import storage
from rag.models import Document

logger = logging.getLogger(__name__)


@dataclass
class FileKeysResult:
    done: int = 0
    missing: int = 0  # the row names a file that is not on disk
    failed: list[tuple[int, str]] = field(default_factory=list)  # (document id, reason)


def files_encrypt_legacy(*, actor: Actor = SYSTEM) -> FileKeysResult:
    """Encrypt every original stored in clear (a document with a file and no data key): a new encrypted
    file, the row pointed at it with its wrapped key, and the clear file removed after commit."""
    result = FileKeysResult()
    for document_id in (
        Document.objects.exclude(file_path="").filter(file_key="").values_list("pk", flat=True)
    ):
        with transaction.atomic():
            document = Document.objects.select_for_update().filter(pk=document_id, file_key="").first()
            if document is None or not document.file_path:  # deleted or converted meanwhile
                continue
            try:
                stored = storage.encrypt_legacy(document.file_path)
            except FileNotFoundError:
                result.missing += 1
                continue
            except (storage.FileUnreadable, ValueError) as exc:
                result.failed.append((document.pk, str(exc)))
                continue
            try:
                Document.objects.filter(pk=document.pk).update(
                    file_path=stored.relative_path, file_key=stored.wrapped_key, file_key_id=stored.key_id
                )
            except BaseException:
                storage.delete(stored.relative_path)  # the row still points at the clear file
                raise
            # The clear copy goes once the row points at the encrypted one.
            transaction.on_commit(partial(storage.delete, document.file_path), robust=True)
            result.done += 1
    _audit("storage.encrypt_legacy", result, actor=actor)
    return result


def file_keys_rewrap(*, actor: Actor = SYSTEM) -> FileKeysResult:
    """Wrap every data key that is not under FILE_ENCRYPTION_KEY with it (the old key must still be listed
    in FILE_ENCRYPTION_OLD_KEYS). The files are not touched; afterwards the old key can be retired."""
    result = FileKeysResult()
    current = filecrypt.current_kek()
    stale = Document.objects.exclude(file_key="").exclude(file_key_id=current.id)
    for document_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            document = Document.objects.select_for_update().filter(pk=document_id).first()
            if document is None or not document.file_key or document.file_key_id == current.id:
                continue
            try:
                wrapped = storage.rewrap(document, to=current)
            except storage.FileUnreadable as exc:
                result.failed.append((document.pk, str(exc)))
                continue
            Document.objects.filter(pk=document.pk).update(file_key=wrapped, file_key_id=current.id)
            result.done += 1
    _audit("storage.rewrap_keys", result, actor=actor, kek_id=current.id)
    return result


def _audit(action: str, result: FileKeysResult, *, actor: Actor, kek_id: str = "") -> None:
    details: dict[str, object] = {
        "done": result.done,
        "missing": result.missing,
        "failed": len(result.failed),
        "failed_documents": [document_id for document_id, _ in result.failed][:100],
    }
    if kek_id:
        details["kek_id"] = kek_id  # a fingerprint, not the key
    audit_record(action=action, actor=actor, target_type="storage", details=details)
    logger.info("%s: %s", action, details)
