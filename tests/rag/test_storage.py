"""Uploaded originals at rest: envelope encryption (a data key per file, wrapped by FILE_ENCRYPTION_KEY and kept
on the Document row), private permissions, and every reader going through rag.storage."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from governance import filecrypt
from governance.audit import SYSTEM
from governance.models import AuditEvent
from rag import storage
from rag.models import Chunk, Collection, Document
from rag.selectors.subjects import documents_unindexed_matching
from rag.services.deletion import document_delete, passages_delete
from rag.services.documents import document_create
from rag.services.file_keys import file_keys_rewrap, files_encrypt_legacy
from rag.services.ingest import document_ingest
from tests.rag.helpers import ingest_bytes

CANARY = "Kanarya-7f3e: the vault code is 4471-9925."
OTHER_KEY = "another-key-encryption-key-" + "x" * 40


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    settings.MEDIA_ROOT = tmp_path / "uploads"
    return Path(settings.MEDIA_ROOT)


def _tree_bytes(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in root.rglob("*") if path.is_file())


# --- the primitive -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, filecrypt.CHUNK_BYTES - 1, filecrypt.CHUNK_BYTES, filecrypt.CHUNK_BYTES * 2 + 7]
)
def test_chunked_encryption_round_trips_across_chunk_boundaries(size: int) -> None:
    data = os.urandom(size)
    key = filecrypt.new_data_key()
    out = io.BytesIO()
    filecrypt.encrypt_stream([data[i : i + 65536] for i in range(0, size, 65536)], out, data_key=key)
    assert b"".join(filecrypt.decrypt_chunks(io.BytesIO(out.getvalue()), data_key=key)) == data


def test_a_file_cut_at_a_chunk_boundary_or_altered_does_not_decrypt() -> None:
    key = filecrypt.new_data_key()
    out = io.BytesIO()
    filecrypt.encrypt_stream([b"a" * (filecrypt.CHUNK_BYTES * 2 + 10)], out, data_key=key)
    whole = out.getvalue()
    cut = whole[: 16 + 2 * (filecrypt.CHUNK_BYTES + filecrypt.TAG_BYTES)]  # drop the last chunk exactly
    flipped = bytearray(whole)
    flipped[100] ^= 1
    for damaged in (cut, bytes(flipped)):
        with pytest.raises(filecrypt.FileKeyError):
            b"".join(filecrypt.decrypt_chunks(io.BytesIO(damaged), data_key=key))


def test_a_wrapped_key_only_opens_under_its_kek_and_for_its_file() -> None:
    kek = filecrypt.kek_from_secret("k" * 40)
    data_key = filecrypt.new_data_key()
    wrapped = filecrypt.wrap(data_key, kek=kek, name="ab/abc.txt")
    keys = {kek.id: kek}
    assert filecrypt.unwrap(wrapped, kek_id=kek.id, name="ab/abc.txt", keys=keys) == data_key
    with pytest.raises(filecrypt.FileKeyError, match="does not open"):
        filecrypt.unwrap(wrapped, kek_id=kek.id, name="cd/other.txt", keys=keys)  # moved to another file
    with pytest.raises(filecrypt.FileKeyError, match="neither FILE_ENCRYPTION_KEY"):
        filecrypt.unwrap(wrapped, kek_id=kek.id, name="ab/abc.txt", keys={})


# --- storage -------------------------------------------------------------------------------------------


def test_stored_bytes_hold_no_plaintext_and_are_private_whatever_the_umask(media_root: Path) -> None:
    media_root.mkdir(mode=0o755)
    media_root.chmod(0o755)  # a folder left by an older version
    previous = os.umask(0o022)
    try:
        stored = storage.store(io.BytesIO(CANARY.encode() * 1000), suffix=".txt")
    finally:
        os.umask(previous)
    path = media_root / stored.relative_path
    on_disk = path.read_bytes()
    assert CANARY.encode() not in on_disk and b"Kanarya" not in on_disk
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(media_root.stat().st_mode) == 0o700
    assert stored.key_id == filecrypt.current_kek().id and stored.wrapped_key
    plain = storage.read(stored.relative_path, wrapped_key=stored.wrapped_key, key_id=stored.key_id)
    assert plain == CANARY.encode() * 1000


@pytest.mark.django_db
def test_ingest_reads_the_encrypted_original_and_delete_shreds_key_and_file(
    alice: Any, collection_a: Collection, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    document = ingest_bytes(collection_a, alice, f"Security notes. {CANARY}".encode(), "notes.txt")
    assert document.status == Document.Status.READY, document.error
    assert any("4471-9925" in text for text in Chunk.objects.values_list("text", flat=True))
    assert b"4471-9925" not in _tree_bytes(media_root)
    assert document.file_key and document.file_key_id == filecrypt.current_kek().id
    path = media_root / document.file_path

    with django_capture_on_commit_callbacks(execute=True):  # the file goes once the deletion commits
        document_delete(document=document, actor=SYSTEM)
    assert not Document.objects.filter(pk=document.pk).exists()  # the wrapped key went with the row
    assert not path.exists()


@pytest.mark.django_db(transaction=True)
def test_erasing_passages_drops_the_data_key_with_the_file(
    alice: Any, collection_a: Collection, media_root: Path
) -> None:
    document = ingest_bytes(collection_a, alice, b"One passage about the canteen.", "canteen.txt")
    path = media_root / document.file_path
    with transaction.atomic():
        passages_delete(document=document, chunk_ids=[])
    document.refresh_from_db()
    assert (document.file_path, document.file_key, document.file_key_id) == ("", "", "")
    assert not path.exists()


def _upload(collection: Collection, user: Any, data: bytes, name: str) -> Document:
    document, _ = document_create(
        collection=collection, uploaded_by=user, stream=io.BytesIO(data), filename=name
    )
    return document


@pytest.mark.django_db
def test_a_wrong_key_encryption_key_fails_the_document_with_a_reason(
    alice: Any, collection_a: Collection, settings: Any
) -> None:
    document = _upload(collection_a, alice, b"Text stored under the first key.", "first.txt")
    original_id = document.file_key_id
    settings.FILE_ENCRYPTION_KEY = OTHER_KEY  # the key was changed without a rotation
    result = document_ingest(document_id=document.pk, task_id="test")
    assert result is not None and result.status == Document.Status.FAILED
    assert "cannot be decrypted" in result.error and original_id in result.error
    assert OTHER_KEY not in result.error
    # A data-subject search cannot read it either: reported as unsearchable, never as clean.
    assert documents_unindexed_matching(pattern="first key") == (set(), {document.pk})


@pytest.mark.django_db
def test_rotation_rewraps_data_keys_under_the_new_kek(
    alice: Any, collection_a: Collection, settings: Any
) -> None:
    document = _upload(collection_a, alice, b"Rotation survives.", "rotate.txt")
    old_secret = settings.FILE_ENCRYPTION_KEY
    file_before = (Path(settings.MEDIA_ROOT) / document.file_path).read_bytes()
    settings.FILE_ENCRYPTION_KEY, settings.FILE_ENCRYPTION_OLD_KEYS = OTHER_KEY, [old_secret]

    result = file_keys_rewrap()

    assert (result.done, result.failed) == (1, [])
    document.refresh_from_db()
    assert document.file_key_id == filecrypt.kek_from_secret(OTHER_KEY).id
    settings.FILE_ENCRYPTION_OLD_KEYS = []  # the old key is retired
    assert storage.read_document(document) == b"Rotation survives."
    assert (Path(settings.MEDIA_ROOT) / document.file_path).read_bytes() == file_before  # file untouched
    event = AuditEvent.objects.filter(action="storage.rewrap_keys").latest("seq")
    assert event.details["done"] == 1 and event.details["kek_id"] == document.file_key_id
    assert old_secret not in str(event.details) and OTHER_KEY not in str(event.details)


@pytest.mark.django_db(transaction=True)
def test_files_stored_in_clear_by_an_older_version_are_encrypted_by_the_command(
    alice: Any, collection_a: Collection, media_root: Path
) -> None:
    legacy = media_root / "ol" / "old-upload.txt"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(CANARY.encode())
    document = Document.objects.create(
        collection=collection_a,
        title="old",
        original_filename="old.txt",
        mime_type="text/plain",
        sha256="0" * 64,
        size_bytes=len(CANARY),
        file_path="ol/old-upload.txt",
    )
    assert storage.read_document(document) == CANARY.encode()  # read as it is until converted

    result = files_encrypt_legacy()

    assert result.done == 1
    document.refresh_from_db()
    assert document.file_key and document.file_path != "ol/old-upload.txt"
    assert not legacy.exists()
    assert CANARY.encode() not in _tree_bytes(media_root)
    assert storage.read_document(document) == CANARY.encode()
    assert files_encrypt_legacy().done == 0  # idempotent
    assert AuditEvent.objects.filter(action="storage.encrypt_legacy", details__done=1).exists()
