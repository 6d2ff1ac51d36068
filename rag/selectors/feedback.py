"""Reads for evaluation sets (``governance.compliance.evaluation``): answers rated 👎 that concern a
collection, and whether a collection exists. Not filtered by a user: officers and administrators build
evaluation sets for the organisation; the questions are asked later as a chosen user, through the governed
answer path."""

from __future__ import annotations

from django.db.models import Q

from rag.models import Answer, AnswerFeedback, Collection, Conversation


def collection_exists(*, collection_id: int) -> bool:
    return Collection.objects.filter(pk=collection_id).exists()


def answers_rated_down(*, collection_id: int) -> list[Answer]:
    """Answers with a 👎 that were asked of the collection or cited one of its documents, oldest first, one
    per question (questions were stored redacted)."""
    answers = (
        Answer.objects.filter(feedback__rating=AnswerFeedback.Rating.DOWN)
        .filter(
            Q(collection_ids__contains=[collection_id]) | Q(citations__document__collection_id=collection_id)
        )
        .distinct()
        .order_by("id")
    )
    seen: set[str] = set()
    unique = []
    for answer in answers:
        if answer.question not in seen:
            seen.add(answer.question)
            unique.append(answer)
    return unique


def answers_logged(*, collection_id: int, limit: int) -> list[tuple[Answer, list[int]]]:
    """Answered questions of the collection (not rated 👎, not asked by an evaluation run, with at least one
    cited passage of it), newest first, one per question, each with the ids of the collection's documents it
    cited ([n] in the text) and still holds: the answer log as a regression set."""
    answers = (
        Answer.objects.filter(status=Answer.Status.COMPLETE, not_found=False)
        .filter(citations__cited=True, citations__document__collection_id=collection_id)
        .exclude(feedback__rating=AnswerFeedback.Rating.DOWN)
        .exclude(conversation__kind=Conversation.Kind.EVALUATION)
        .distinct()
        .order_by("-id")
    )
    seen: set[str] = set()
    logged: list[tuple[Answer, list[int]]] = []
    for answer in answers.iterator():
        if answer.question in seen:
            continue
        documents = sorted(
            {
                int(document_id)
                for document_id in answer.citations.filter(
                    cited=True, document__collection_id=collection_id
                ).values_list("document_id", flat=True)
                if document_id is not None
            }
        )
        if documents:
            seen.add(answer.question)
            logged.append((answer, documents))
        if len(logged) >= limit:
            break
    return logged


def answers_existing(*, answer_ids: set[int]) -> set[int]:
    """Which of these answers still exist (erasure, retention and users delete answers)."""
    return set(Answer.objects.filter(pk__in=answer_ids).values_list("pk", flat=True))
