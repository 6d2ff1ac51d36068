"""Encrypt the uploaded originals that an older version stored in clear: ``python manage.py encrypt_uploads``.

Idempotent; audited as ``storage.encrypt_legacy``. Until it has run, such files are still read as they are.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rag.services.file_keys import files_encrypt_legacy


class Command(BaseCommand):
    help = "Encrypt uploaded originals stored in clear by an older version (envelope encryption)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = files_encrypt_legacy()
        self.stdout.write(f"encrypted {result.done} file(s); {result.missing} missing on disk")
        for document_id, reason in result.failed:
            self.stderr.write(f"document {document_id}: {reason}")
        if result.failed:
            raise CommandError(f"{len(result.failed)} file(s) could not be encrypted")
