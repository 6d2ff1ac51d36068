"""Reads of collections, documents, conversations and answers. Every selector takes the acting user and
applies the access rule (rag.selectors.access) inside its query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import BooleanField, Case, Exists, F, OuterRef, Prefetch, Q, QuerySet, Value, When

from rag.models import Answer, AnswerFeedback, Chunk, Citation, Collection, Conversation, Document
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
        # Names are unique per owner: the user's own collection of that name wins; several others of that
        # name (all of them visible to this user) are ambiguous rather than picked at random.
        named = list(collections.filter(name=text).order_by("pk")[:50])
        own = [c for c in named if c.owner_id == getattr(user, "pk", None)]
        if own:
            found = own[0]
        elif len(named) > 1:
            raise NotFound(f"Several collections you can access are named {text!r}: use the id.")
        elif named:
            found = named[0]
    if found is None:
        raise NotFound(f"Collection {text!r} not found.")
    return found


HIDDEN_TITLE = "[special-category document]"


def _title_hidden(user: Any, via: str = "") -> Q:
    """The one rule for titles: a document's title (and file name) naming a special category is hidden from
    readers without a ``special`` grant on its collection. ``via``: the path to the document (``document__``)."""
    return Q(**{f"{via}special_title": True}) & ~Q(**{f"{via}collection__in": special_collections(user)})


def document_titles_shown(*, user: Any, document_ids: Iterable[int]) -> set[int]:
    """Which of these documents ``user`` may see the title of: readable, and not hidden by ``_title_hidden``.
    A document missing from the answer (deleted meanwhile, or never readable) is one whose title is not
    shown: callers fail closed."""
    ids = set(document_ids)
    if not ids:
        return set()
    return set(
        Document.objects.filter(pk__in=ids, collection__in=readable_collections(user))
        .exclude(_title_hidden(user))
        .values_list("pk", flat=True)
    )


def document_list(*, user: Any, collection: Collection | None = None) -> QuerySet[Document]:
    """Readable documents, with ``shown_title`` and ``shown_filename``: hidden when they name a special
    category and the user holds no ``special`` grant on the collection."""
    hidden = _title_hidden(user)
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
    """The user's chats (the questions of evaluation runs they ran are kept apart: not listed, still theirs)."""
    return conversation_owned(user=user).exclude(kind=Conversation.Kind.EVALUATION)


def conversation_owned(*, user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user).order_by("-updated_at", "-id")


def conversation_get(*, user: Any, conversation_id: int) -> Conversation:
    conversation = conversation_owned(user=user).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound(f"Conversation {conversation_id} not found.")
    return conversation


# --- answers and citations: re-checked against what the reader may read now --------------------------------
#
# A citation copied its passage (title, section, snippet) when the answer was written. Access is not frozen at
# that moment: a grant revoked, a document deleted or a passage flagged special-category since must hide the
# copy too. So every read of a citation carries ``readable``, decided here in SQL from the same access rule as
# search, and every read of an answer carries ``withheld``: one of the sources given to the model is no
# longer readable, so the text it wrote from them is not shown (nor sent back to the model as history).


def _citation_readable(user: Any) -> Q:
    """True for a citation whose passage ``user`` may read now: the passage still exists, its collection is
    readable, and it is not special-category unless the user holds a ``special`` grant on the collection.
    A passage replaced by re-ingestion (its document still exists, the chunk row is new) is judged by its
    document: readable collection, and no special-category passage in the document without the grant."""
    readable = readable_collections(user)
    special = special_collections(user)
    chunk_readable = Q(chunk__isnull=False, chunk__collection__in=readable) & (
        Q(chunk__special_categories=[]) | Q(chunk__collection__in=special)
    )
    special_in_document = Exists(
        Chunk.objects.filter(document_id=OuterRef("document_id")).exclude(special_categories=[])
    )
    document_readable = Q(chunk__isnull=True, document__isnull=False, document__collection__in=readable) & (
        ~special_in_document | Q(document__collection__in=special)
    )
    return chunk_readable | document_readable


def citations_shown(*, user: Any) -> QuerySet[Citation]:
    """Citations annotated with ``readable`` (see ``_citation_readable``) and ``title_hidden`` (the document's
    title names a special category and the user holds no ``special`` grant, as in ``document_list``)."""
    return (
        Citation.objects.annotate(
            readable=Case(When(_citation_readable(user), then=Value(True)), default=Value(False)),
            title_hidden=Case(
                When(_title_hidden(user, via="document__"), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .select_related("document")
        .order_by("n")
    )


def _unreadable_source(user: Any) -> Exists:
    """True for an answer with a source (a citation) that ``user`` may no longer read."""
    return Exists(
        Citation.objects.filter(answer_id=OuterRef("pk"))
        .annotate(readable=Case(When(_citation_readable(user), then=Value(True)), default=Value(False)))
        .filter(readable=False)
    )


def answers_shown(*, user: Any) -> QuerySet[Answer]:
    """The user's own answers, each with ``withheld`` (a source is no longer readable by them) and its
    citations prefetched with ``readable``/``title_hidden``. Every read of an answer goes through here."""
    return (
        Answer.objects.filter(conversation__user=user)
        .annotate(withheld=_unreadable_source(user))
        .prefetch_related(Prefetch("citations", queryset=citations_shown(user=user)))
        .order_by("created_at", "id")
    )


def conversation_answers(*, user: Any, conversation: Conversation) -> QuerySet[Answer]:
    return answers_shown(user=user).filter(conversation=conversation)


def conversation_history(*, user: Any, conversation: Conversation, turns: int) -> list[tuple[str, str]]:
    """The last ``turns`` completed answers of the user's conversation that go back to the model, oldest
    first, as (question, answer text). An answer one of whose sources the user may no longer read is left
    out whole (in SQL): its text was written from that source and would carry it back to the model, and its
    question without the answer would only mislead the model."""
    if not conversation.pk or turns <= 0:
        return []
    rows = (
        Answer.objects.filter(
            conversation=conversation,
            conversation__user=user,
            status=Answer.Status.COMPLETE,
            not_found=False,
        )
        .filter(~_unreadable_source(user))
        .order_by("-id")
        .values_list("question", "text")[:turns]
    )
    return list(rows)[::-1]


def answer_get(*, user: Any, answer_id: int) -> Answer:
    answer = answers_shown(user=user).filter(pk=answer_id).first()
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
