"""Answering a question: retrieve what the user may read, build a grounded prompt, ask the model, store it all.

The flow reads top to bottom:

    answer_prepare  question → governed question → hybrid search (ACL in SQL) → relevant sources → prompt
                    fitted to the model's context window by its own tokenizer
    answer_complete (non-streaming) or answer_stream (Server-Sent Events): model call → Answer + Citations
    answer_stream   sources (as the reader may see them) → tokens → citations → done

Emanet's own share of the wait, ``prepare_ms``, runs from the request's arrival to the moment the request
goes to the model server (search, redaction, prompt fitting, the serving gate); it is stored on the answer.

No transaction is held open across the model call. Retrieved text is untrusted data, never instructions: it is
fenced, numbered and the system rules say so; that is a mitigation, not a guarantee, which is why nothing the
model writes is ever executed or trusted for access decisions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from governance.audit import SYSTEM, Actor, audit_record
from governance.pii.policies import policies_for_collections
from governance.pii.redaction import Policy, redact_text
from inference import embeddings, gate, llm
from rag import selectors
from rag.models import Answer, AnswerFeedback, Citation, Conversation
from rag.selectors import HIDDEN_TITLE, SearchHit
from rag.services.prompt import PromptTooLong as PromptTooLong  # raised by answer_prepare
from rag.services.prompt import Source, prompt_fit
from rag.services.search import (
    Scope,
    governed_hits,
    governed_question,
    redactions_added,
    scope_for,
    scope_search,
    special_flag,
)

logger = logging.getLogger(__name__)

_CITATION = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")


def not_found_text() -> str:
    return _("Not found in the documents you can access.")


@dataclass
class PreparedAnswer:
    """Everything decided before the model is called."""

    user: Any
    question: str
    conversation: Conversation
    collection_ids: list[int] | None
    sources: list[Source]
    messages: list[dict[str, str]] = field(default_factory=list)
    prompt_tokens: int = 0
    # time.monotonic() when the request arrived (the API passes it) or, failing that, when preparing began
    started: float = field(default_factory=time.monotonic)
    # time.monotonic() just before the request went to the model server; None while it has not (not found)
    model_called: float | None = None
    actor: Actor = SYSTEM
    # The permission decision: the collections the user could read when asking (the search SQL's filter).
    readable_collections: list[int] = field(default_factory=list)
    question_redactions: int = 0
    # The serving gate's decision the model was called under (inference.gate): registry entry and verdict.
    model_gate: dict[str, Any] | None = None
    # "answer" (a user's question) or "evaluation" (a run of an evaluation set: exempt from
    # MODEL_SWITCH_REQUIRES_EVAL, so a candidate model can be evaluated before it answers users)
    purpose: str = "answer"

    @property
    def not_found(self) -> bool:
        return not self.sources

    @property
    def prepare_ms(self) -> int | None:
        """Emanet's own time before the model: from ``started`` to the model call."""
        if self.model_called is None:
            return None
        return max(0, int((self.model_called - self.started) * 1000))


# --- sources: the governed hits, numbered ----------------------------------------------------------------


def chunk_version(text: str) -> str:
    """Which exact passage an answer came from: the start of the SHA-256 of the chunk text as stored."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def governed_sources(hits: list[SearchHit], *, scope: Scope, user: Any) -> list[Source]:
    """Numbered sources from the search hits: the text redacted again (``governed_hits``), the version hashed
    from the text as stored, and whether ``user`` may see each title (``selectors.document_titles_shown``:
    a title naming a special category is hidden without a ``special`` grant, as in citations)."""
    titles_shown = selectors.document_titles_shown(user=user, document_ids=[hit.document_id for hit in hits])
    return [
        Source(
            n=n,
            chunk_id=hit.chunk_id,
            document_id=hit.document_id,
            title=hit.title,
            page=hit.page,
            section=hit.section,
            text=hit.text.strip(),
            version=chunk_version(stored.text),
            special=bool(hit.special_categories),
            title_hidden=hit.document_id not in titles_shown,
        )
        for n, (stored, hit) in enumerate(zip(hits, governed_hits(hits, scope=scope), strict=True), start=1)
    ]


# --- preparation ------------------------------------------------------------------------------------------


def _relevant(hit: SearchHit) -> bool:
    # A full-text match means a content word of the question occurs in the chunk (stop words and corpus-common
    # words are not searched); otherwise the embedding similarity has to vouch for it.
    return hit.text_rank is not None or (hit.similarity or 0.0) >= embeddings.min_similarity(
        hit.embedding_model
    )


def _governed_history(conversation: Conversation, *, user: Any, policy: Policy) -> list[tuple[str, str]]:
    """Earlier turns go back into the prompt: only those the user may still read (``_history``), redacted
    again under today's policies (they were written under the policies of their day)."""
    return [
        (redact_text(question, policy=policy), redact_text(text, policy=policy))
        for question, text in _history(conversation, user=user)
    ]


def _history(conversation: Conversation, *, user: Any) -> list[tuple[str, str]]:
    """The last turns the user may still read (``rag.selectors.conversation_history``): a turn whose answer
    drew on a source no longer readable by the user is left out whole."""
    return selectors.conversation_history(
        user=user, conversation=conversation, turns=settings.ANSWER_HISTORY_TURNS
    )


def answer_prepare(
    *,
    user: Any,
    question: str,
    collection_ids: list[int] | None = None,
    conversation: Conversation | None = None,
    actor: Actor = SYSTEM,
    purpose: str = "answer",
    started: float | None = None,
) -> PreparedAnswer:
    """``started``: time.monotonic() when the request arrived (counted in ``prepare_ms`` and the latency)."""
    started = time.monotonic() if started is None else started
    scope = scope_for(user=user, collection_ids=collection_ids)  # the permission decision, once
    raw_question = question
    question = governed_question(scope=scope, question=question)
    if conversation is None:
        kind = Conversation.Kind.EVALUATION if purpose == "evaluation" else Conversation.Kind.CHAT
        conversation = Conversation(user=user, title=question[:200], kind=kind)
    hits = scope_search(user=user, scope=scope, query=question, k=settings.ANSWER_SOURCES * 2)
    relevant = [hit for hit in hits if _relevant(hit)][: settings.ANSWER_SOURCES]
    prepared = PreparedAnswer(
        user=user,
        question=question,
        conversation=conversation,
        collection_ids=collection_ids,
        sources=governed_sources(relevant, scope=scope, user=user),
        started=started,
        actor=actor,
        readable_collections=scope.collection_ids,
        question_redactions=redactions_added(raw_question.strip(), question),
        purpose=purpose,
    )
    if prepared.sources:
        try:
            prepared.messages, prepared.sources, prepared.prompt_tokens = prompt_fit(
                question=question,
                sources=prepared.sources,
                history=_governed_history(conversation, user=user, policy=scope.question_policy),
                max_tokens=settings.ANSWER_MAX_TOKENS,
            )
        except llm.InferenceUnavailable:
            # Counting tokens already needs the model server: record the failed question like a failed call.
            _store_failed(prepared)
            raise
    return prepared


# --- storing ----------------------------------------------------------------------------------------------


def cited_numbers(text: str) -> set[int]:
    numbers: set[int] = set()
    for match in _CITATION.finditer(text):
        numbers.update(int(part) for part in match.group(1).split(","))
    return numbers


def _prompt_sha256(messages: list[dict[str, str]]) -> str:
    if not messages:
        return ""
    canonical = json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _store(
    prepared: PreparedAnswer,
    *,
    text: str,
    status: str,
    model: str,
    usage: llm.Usage,
) -> Answer:
    cited = cited_numbers(text)
    with transaction.atomic():
        conversation = prepared.conversation
        if conversation.pk is None:
            conversation.save()
        else:
            conversation.save(update_fields=["updated_at"])
        answer = Answer.objects.create(
            conversation=conversation,
            question=prepared.question,
            text=text,
            status=status,
            not_found=prepared.not_found,
            model=model,
            prompt_sha256=_prompt_sha256(prepared.messages),
            prompt_tokens=usage.prompt_tokens or prepared.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            collection_ids=prepared.collection_ids or [],
            latency_ms=int((time.monotonic() - prepared.started) * 1000),
            prepare_ms=prepared.prepare_ms,
            provenance={
                "chunks": [source.provenance() for source in prepared.sources],
                "readable_collections": prepared.readable_collections,
                "requested_collections": prepared.collection_ids,
                "decision": "search restricted in SQL to the readable collections (owner or read grant)",
                "model_gate": prepared.model_gate,
            },
        )
        Citation.objects.bulk_create(
            source.citation(answer=answer, cited=source.n in cited) for source in prepared.sources
        )
        audit_record(
            action="ask",
            actor=prepared.actor,
            outcome="failed" if status == Answer.Status.FAILED else "ok",
            target_type="answer",
            target_id=answer.pk,
            details={
                "conversation_id": conversation.pk,
                "status": status,
                "not_found": answer.not_found,
                "model": model,
                "prompt_sha256": answer.prompt_sha256,
                "chunks": answer.provenance["chunks"],
                "readable_collections": prepared.readable_collections,
                "question_redactions": prepared.question_redactions,
                "latency_ms": answer.latency_ms,
                "model_gate": prepared.model_gate,
                **special_flag([s.chunk_id for s in prepared.sources if s.special]),
            },
        )
    return answer


def _store_not_found(prepared: PreparedAnswer) -> Answer:
    return _store(prepared, text=not_found_text(), status=Answer.Status.COMPLETE, model="", usage=llm.Usage())


def _store_failed(prepared: PreparedAnswer) -> Answer:
    """The question is kept with status failed (the model server could not be reached), without text."""
    return _store(prepared, text="", status=Answer.Status.FAILED, model=settings.LLM_MODEL, usage=llm.Usage())


def _gate(prepared: PreparedAnswer) -> None:
    """The serving gate, just before the model is called: refused (enforce) → a failed record, then raised."""
    try:
        prepared.model_gate = gate.gate_require(purpose=prepared.purpose).provenance()
    except gate.ModelRefused as exc:
        prepared.model_gate = exc.decision.provenance()
        _store_failed(prepared)
        raise
    except llm.InferenceUnavailable:
        _store_failed(prepared)
        raise


def answer_complete(*, prepared: PreparedAnswer) -> Answer:
    """Ask the model and store the answer. Raises InferenceUnavailable (after storing a failed record)."""
    if prepared.not_found:
        return _store_not_found(prepared)
    _gate(prepared)
    prepared.model_called = time.monotonic()
    try:
        completion = llm.chat(prepared.messages, max_tokens=settings.ANSWER_MAX_TOKENS)
    except llm.InferenceUnavailable:
        _store_failed(prepared)
        raise
    return _store(
        prepared,
        text=completion.text.strip(),
        status=Answer.Status.COMPLETE,
        model=completion.model,
        usage=completion.usage,
    )


@dataclass(frozen=True)
class StreamEvent:
    event: str  # sources | token | citations | done | error
    data: dict[str, Any]


def source_data(source: Source) -> dict[str, Any]:
    """A source as the ``sources`` event shows it before the answer is written: the fields of a citation
    (``citation_data``) that are known then, with the same rule for the title, and no passage text (nor
    ``cited``, which only the answer decides). Title and section were redacted with the passage
    (``governed_hits``)."""
    return {
        "n": source.n,
        "available": True,
        "document_id": source.document_id,
        "title": source.shown_title,
        "chunk_id": source.chunk_id,
        "page": source.page,
        "section": source.section,
    }


def sources_event(prepared: PreparedAnswer) -> StreamEvent:
    """What the answer will cite, numbered as the citations will be (the sources after prompt fitting)."""
    return StreamEvent("sources", {"sources": [source_data(source) for source in prepared.sources]})


def answer_stream(*, prepared: PreparedAnswer) -> Iterator[StreamEvent]:
    """The sources first, then tokens as the model writes them, then the citations, then done (with ids,
    usage and ``prepare_ms``). The answer is stored when the stream ends, also when it ends early (client
    gone, model lost midway: ``interrupted``).

    The ``sources`` event goes out as soon as the model server has accepted the request, before it has read
    the prompt (on a CPU that takes seconds): people see where the answer will come from while they wait.
    Not earlier, so the first ``next()`` still raises InferenceUnavailable when the model cannot be reached
    at all, and a caller can answer 503 before it has sent anything."""
    if prepared.not_found:
        answer = _store_not_found(prepared)
        yield sources_event(prepared)
        yield StreamEvent("token", {"text": answer.text})
        yield from _closing_events(answer, user=prepared.user)
        return
    _gate(prepared)
    state = llm.StreamState()
    parts: list[str] = []
    status = Answer.Status.INTERRUPTED
    error: str | None = None
    prepared.model_called = time.monotonic()
    tokens = llm.chat_stream(
        prepared.messages, state=state, max_tokens=settings.ANSWER_MAX_TOKENS, mark_accepted=True
    )
    try:
        try:
            next(tokens)  # "": the server accepted the request
        except StopIteration:
            pass
        except llm.InferenceUnavailable:
            status = Answer.Status.FAILED
            raise
        yield sources_event(prepared)
        try:
            for token in tokens:
                parts.append(token)
                yield StreamEvent("token", {"text": token})
            status = Answer.Status.COMPLETE
        except llm.InferenceUnavailable as exc:
            error = str(exc)
            if not parts:  # lost before its first token: nothing was answered
                status = Answer.Status.FAILED
    finally:
        # Runs on normal end, on error, and when the client goes away (GeneratorExit at a yield). Closing the
        # model stream drops the connection, so vLLM aborts a generation nobody will read.
        tokens.close()
        answer = _store(
            prepared,
            text="".join(parts).strip(),
            status=status,
            model=state.model or settings.LLM_MODEL,
            usage=state.usage,
        )
    if error is not None:
        yield StreamEvent("error", {"detail": f"The language model is not reachable: {error}"})
    yield from _closing_events(answer, user=prepared.user)


def _closing_events(answer: Answer, *, user: Any) -> Iterator[StreamEvent]:
    # Read back like any other read of an answer: citations re-checked against what the user may read.
    shown = selectors.answer_get(user=user, answer_id=answer.pk)
    yield StreamEvent("citations", {"citations": [citation_data(c) for c in shown.citations.all()]})
    yield StreamEvent("done", answer_summary(answer))


def withheld_text() -> str:
    return _("This answer drew on sources you can no longer read, so it is not shown.")


def answer_text_shown(answer: Answer) -> str:
    """The answer text as its reader may see it now: withheld when one of its sources is no longer readable
    by them (``rag.selectors.answers_shown`` decides, in SQL). An answer not read through that selector has no
    ``withheld`` and is withheld: fail closed."""
    return withheld_text() if getattr(answer, "withheld", True) else answer.text


def withheld_citation_data(citation: Citation) -> dict[str, Any]:
    """A citation the reader may no longer read: kept as a numbered placeholder so the [n] markers of the
    answer stay aligned, without title, section, snippet, page or ids (a document id would still say which
    document was cited)."""
    return {
        "n": citation.n,
        "available": False,
        "document_id": None,
        "title": _("Source no longer available to you"),
        "chunk_id": None,
        "page": None,
        "section": "",
        "snippet": "",
        "cited": citation.cited,
    }


def citation_data(citation: Citation, policies: dict[int, Policy] | None = None) -> dict[str, Any]:
    """A citation as shown. Read it through ``rag.selectors.citations_shown`` (or ``answers_shown``): a
    citation whose passage the reader may no longer read — or one not read through them — is a placeholder
    (``withheld_citation_data``). Otherwise its snippet, a copy of the passage taken when the answer was
    written, is redacted again under the collection's current policy (a policy may have changed since), and
    a title naming a special category is hidden from readers without the ``special`` grant. ``policies``
    caches policies by collection across the citations of one response."""
    if not getattr(citation, "readable", False):
        return withheld_citation_data(citation)
    policies = {} if policies is None else policies
    collection_id = citation.document.collection_id if citation.document is not None else None
    if collection_id is None:
        policy = Policy.strict().for_prompt()
    else:
        if collection_id not in policies:
            policies.update(policies_for_collections([collection_id]))
        policy = policies[collection_id].for_prompt()
    return {
        "n": citation.n,
        "available": True,
        "document_id": citation.document_id,
        "title": HIDDEN_TITLE
        if getattr(citation, "title_hidden", True)
        else redact_text(citation.title, policy=policy),
        "chunk_id": citation.chunk_id,
        "page": citation.page,
        "section": redact_text(citation.section, policy=policy),
        "snippet": redact_text(citation.snippet, policy=policy),
        "cited": citation.cited,
    }


def answer_summary(answer: Answer) -> dict[str, Any]:
    return {
        "answer_id": answer.pk,
        "conversation_id": answer.conversation_id,
        "status": answer.status,
        "not_found": answer.not_found,
        "model": answer.model,
        "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens},
        "prepare_ms": answer.prepare_ms,
    }


def answer_feedback_set(*, answer: Answer, user: Any, rating: str, comment: str = "") -> AnswerFeedback:
    feedback, _created = AnswerFeedback.objects.update_or_create(
        answer=answer, user=user, defaults={"rating": rating, "comment": redact_text(comment)}
    )
    return feedback
