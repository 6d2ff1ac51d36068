"""Rotate the key-encryption key of uploaded originals: ``python manage.py rewrap_file_keys``.

Set the new key as FILE_ENCRYPTION_KEY and the old one in FILE_ENCRYPTION_OLD_KEYS, run this, then drop the old
key. Only the wrapped data keys change (the files are not rewritten). Idempotent; audited as
``storage.rewrap_keys``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance import filecrypt
from rag.services.file_keys import file_keys_rewrap


class Command(BaseCommand):
    help = "Re-wrap every file data key under the current FILE_ENCRYPTION_KEY (key rotation)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = file_keys_rewrap()
        self.stdout.write(f"re-wrapped {result.done} data key(s) under key {filecrypt.current_kek().id}")
        for document_id, reason in result.failed:
            self.stderr.write(f"document {document_id}: {reason}")
        if result.failed:
            raise CommandError(f"{len(result.failed)} data key(s) could not be re-wrapped")
