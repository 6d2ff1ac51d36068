"""Reads for data-subject requests (``governance.compliance.subjects``): the exact search over every stored
text, the stored files of documents not yet indexed, and the rows an access export or an erasure needs.

Not filtered by a user: a compliance officer acts for the organisation on every collection. The patterns are
PostgreSQL regular expressions that the workflow builds from the subject's identifiers; this module only runs
them, in the database (``~*``), so that Python and PostgreSQL never disagree on what matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count

from rag import storage
from rag.models import Answer, Chunk, Citation, Collection, Document
from rag.parsing import parse
from rag.services.ingest import MAX_ATTEMPTS

# Every stored text that can name a person, outside the subject index. The pattern is one parameter.
_TEXT_QUERIES = {
    "chunks": "SELECT id FROM rag_chunk WHERE text ~* %(p)s OR section ~* %(p)s",
    "documents": (
        "SELECT id FROM rag_document WHERE title ~* %(p)s OR original_filename ~* %(p)s OR error ~* %(p)s"
    ),
    "answers": (
        "SELECT id FROM rag_answer WHERE question ~* %(p)s OR text ~* %(p)s "
        "UNION SELECT answer_id FROM rag_citation WHERE snippet ~* %(p)s OR title ~* %(p)s "
        "OR section ~* %(p)s "
        "UNION SELECT answer_id FROM rag_answerfeedback WHERE comment ~* %(p)s"
    ),
    "conversations": "SELECT id FROM rag_conversation WHERE title ~* %(p)s",
}


@dataclass(frozen=True)
class TextMatches:
    chunks: set[int]  # the passage or its heading
    documents: set[int]  # the title, the file name or the ingestion error
    answers: set[int]  # the question, the answer, a citation's copy or a feedback comment
    conversations: set[int]  # the conversation's title


def texts_matching(*, pattern: str) -> TextMatches:
    """Ids of the rows whose stored text matches ``pattern`` (case-insensitive)."""
    found: dict[str, set[int]] = {}
    with connection.cursor() as cursor:
        for name, sql in _TEXT_QUERIES.items():
            cursor.execute(sql, {"p": pattern})
            found[name] = {row[0] for row in cursor.fetchall()}
    return TextMatches(**found)


def documents_unindexed_matching(*, pattern: str) -> tuple[set[int], set[int]]:
    """Documents whose passages are not in the database — waiting, being processed, or failed — still have
    their stored file: it is parsed and searched with the same expressions (the database evaluates them).
    Returns (documents that mention the subject, documents that could not be searched). A file that crashed
    a worker is not parsed again, and one that does not parse is searched as far as its bytes decode as text;
    when that is not possible (a broken PDF, a damaged .docx) it is reported as unsearchable, never as clean."""
    hits: set[int] = set()
    unsearchable: set[int] = set()
    pending = Document.objects.exclude(status=Document.Status.READY).exclude(file_path="")
    rows = pending.values_list(
        "pk", "file_path", "file_key", "file_key_id", "original_filename", "status", "attempts"
    )
    for document_id, path, file_key, file_key_id, filename, status, attempts in rows:
        try:
            data = storage.read(path, wrapped_key=file_key, key_id=file_key_id)
        except (FileNotFoundError, ValueError):
            continue
        except storage.FileUnreadable:
            unsearchable.add(document_id)  # a file nobody can read now is not a file that is clean
            continue
        text, complete = None, False
        if not (status == Document.Status.FAILED and attempts > MAX_ATTEMPTS):
            try:
                text, complete = parse(data, filename)[1].text, True
            except Exception:  # noqa: BLE001 — unparseable: fall back to its bytes below
                text = None
        if text is None:
            try:
                text, complete = data.decode("utf-8"), True  # plain text after all
            except UnicodeDecodeError:
                text = data.decode("utf-8", errors="ignore")
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s ~* %s", [text.replace("\x00", ""), pattern])
            if cursor.fetchone()[0]:
                hits.add(document_id)
            elif not complete:
                unsearchable.add(document_id)
    return hits, unsearchable


# --- for an erasure ------------------------------------------------------------------------------------


def chunk_texts(*, chunk_ids: Iterable[int]) -> list[tuple[int, int, str]]:
    """(chunk id, document id, text) of these passages."""
    return list(Chunk.objects.filter(pk__in=chunk_ids).values_list("pk", "document_id", "text"))


def document_chunk_texts(*, document_ids: Iterable[int]) -> list[tuple[int, int, str]]:
    """(chunk id, document id, text) of every passage of these documents."""
    return list(Chunk.objects.filter(document_id__in=document_ids).values_list("pk", "document_id", "text"))


def documents_locked(*, document_ids: Iterable[int]) -> dict[int, Document]:
    """These documents, locked for update in primary-key order (so that two erasures cannot deadlock), by
    id. Inside the caller's transaction."""
    rows = Document.objects.select_for_update().filter(pk__in=document_ids).order_by("pk")
    return {d.pk: d for d in rows}


def chunks_left(*, document_ids: Iterable[int], excluding: Iterable[int]) -> dict[int, int]:
    """Document id → how many of its passages remain besides ``excluding`` (documents with none are absent)."""
    return dict(
        Chunk.objects.filter(document_id__in=document_ids)
        .exclude(pk__in=excluding)
        .values_list("document_id")
        .annotate(n=Count("pk"))
    )


def answers_citing(*, chunk_ids: Iterable[int]) -> set[int]:
    """Ids of the cached answers with a citation of one of these passages."""
    return set(Citation.objects.filter(chunk_id__in=chunk_ids).values_list("answer_id", flat=True))


# --- for an access export ------------------------------------------------------------------------------


def chunks_for_export(*, chunk_ids: Iterable[int]) -> list[Chunk]:
    """These passages, by document and position, with what an export shows of them."""
    return list(
        Chunk.objects.filter(pk__in=chunk_ids)
        .only(
            "id", "document_id", "collection_id", "ordinal", "page", "section", "text", "special_categories"
        )
        .order_by("document_id", "ordinal")
    )


def documents_by_id(*, document_ids: Iterable[int]) -> dict[int, Document]:
    """These documents by id, in id order."""
    return {d.pk: d for d in Document.objects.filter(pk__in=document_ids).order_by("pk")}


def collections_by_id(*, collection_ids: Iterable[int]) -> dict[int, Collection]:
    return {c.pk: c for c in Collection.objects.filter(pk__in=collection_ids)}


def answers_asked(*, answer_ids: Iterable[int]) -> list[Answer]:
    """These cached answers with their conversation (who asked), oldest first."""
    return list(
        Answer.objects.filter(pk__in=answer_ids).select_related("conversation").order_by("created_at")
    )
