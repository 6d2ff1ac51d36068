"""Reads of collections, documents, conversations and answers. Every selector takes the acting user and
applies the access rule (rag.selectors.access) inside its query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Case, F, Q, QuerySet, Value, When

from rag.models import Answer, AnswerFeedback, Chunk, Collection, Conversation, Document
from rag.selectors.access import readable_collections, special_collections, writable_collections


class NotFound(Exception):
    """Missing, or not visible to this user: callers cannot tell which, on purpose."""


def collection_list(*, user: Any) -> QuerySet[Collection]:
    return readable_collections(user).order_by("name")


def collection_get(*, user: Any, ref: str | int, for_upload: bool = False) -> Collection:
    """By id or by name, among the collections the user can read (or, ``for_upload``, upload to: an upload
    grant without a read grant is how an ingestion system is set up)."""
    collections = readable_collections(user)
    if for_upload:
        collections = collections | writable_collections(user)
    text = str(ref).strip()
    # isdecimal() alone accepts "²" and other digits int() refuses.
    found = collections.filter(pk=int(text)).first() if text.isascii() and text.isdecimal() else None
    if found is None:
        found = collections.filter(name=text).first()
    if found is None:
        raise NotFound(f"Collection {text!r} not found.")
    return found


HIDDEN_TITLE = "[special-category document]"


def document_list(*, user: Any, collection: Collection | None = None) -> QuerySet[Document]:
    """Readable documents, with ``shown_title`` and ``shown_filename``: hidden when they name a special
    category and the user holds no ``special`` grant on the collection."""
    hidden = Q(special_title=True) & ~Q(collection__in=special_collections(user))
    documents = (
        Document.objects.filter(collection__in=readable_collections(user))
        .select_related("collection")
        .annotate(
            shown_title=Case(When(hidden, then=Value(HIDDEN_TITLE)), default=F("title")),
            shown_filename=Case(When(hidden, then=Value("")), default=F("original_filename")),
        )
    )
    if collection is not None:
        documents = documents.filter(collection=collection)
    return documents.order_by("-created_at", "-id")


def document_get(*, user: Any, document_id: int) -> Document:
    document = document_list(user=user).filter(pk=document_id).first()
    if document is None:
        raise NotFound(f"Document {document_id} not found.")
    return document


# --- conversations: only their owner sees them -----------------------------------------------------------


def conversation_list(*, user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user).order_by("-updated_at", "-id")


def conversation_get(*, user: Any, conversation_id: int) -> Conversation:
    conversation = conversation_list(user=user).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound(f"Conversation {conversation_id} not found.")
    return conversation


def conversation_answers(*, conversation: Conversation) -> QuerySet[Answer]:
    return conversation.answers.prefetch_related("citations__document").order_by("created_at", "id")


def answer_get(*, user: Any, answer_id: int) -> Answer:
    answer = Answer.objects.filter(pk=answer_id, conversation__user=user).first()
    if answer is None:
        raise NotFound(f"Answer {answer_id} not found.")
    return answer


def document_chunks(*, user: Any, document: Document) -> QuerySet[Any]:
    """The passages of a document the caller already obtained through document_get (so: readable); its
    special-category passages only with a ``special`` grant on the collection."""
    visible = Q(special_categories=[]) | Q(collection__in=special_collections(user))
    return (
        Chunk.objects.filter(visible, document=document)
        .only("id", "ordinal", "page", "section", "text", "special_categories")
        .order_by("ordinal")
    )


def chunks_by_id(*, chunk_ids: Iterable[int | None]) -> dict[int, Chunk]:
    """The passages with these ids that still exist, by id, in one query. No access rule: this is the audit
    trail's drill-down, where a compliance officer sees what an answer was built from; withholding
    special-category text is the caller's job."""
    chunks = Chunk.objects.filter(pk__in=[pk for pk in chunk_ids if pk is not None]).only(
        "text", "document_id", "collection_id", "special_categories"
    )
    return {chunk.pk: chunk for chunk in chunks}


def answer_ratings(*, user: Any, conversation: Conversation) -> dict[int, str]:
    """The user's own 👍/👎 on the answers of a conversation: answer id → rating."""
    rows = AnswerFeedback.objects.filter(answer__conversation=conversation, user=user)
    return dict(rows.values_list("answer_id", "rating"))
