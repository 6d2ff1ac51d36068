"""Searching as a governed act, shared by ``/search`` and the answer flow: the readable scope (once), the
question redacted under the policies of that scope, the hybrid search (access rule inside its SQL), a second
redaction pass over what came back, and the audit event.

    scope_for  → readable collection ids (narrowed, never widened) and their redaction policies
    governed_question → the query as search, storage and the model see it
    chunk_search (rag.selectors) → governed_hits → audit
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from governance.audit import Actor, audit_record
from governance.pii.policies import policies_for_collections
from governance.pii.redaction import MARKER, Policy, redact_text
from rag import selectors
from rag.selectors import SearchHit
from rag.selectors.records import HIDDEN_TITLE, document_titles_shown


@dataclass(frozen=True)
class Scope:
    """The permission decision for one question: the collections the user could read (narrowed to those
    requested), and their redaction policies. Computed once per question and passed on."""

    collection_ids: list[int]
    policies: dict[int, Policy]

    @property
    def question_policy(self) -> Policy:
        """A question crosses collections: a value survives only where every collection in scope keeps it;
        otherwise it becomes its pseudonym, which still matches chunks of collections that hash it."""
        return Policy.for_question(list(self.policies.values()))


def scope_for(*, user: Any, collection_ids: list[int] | None = None) -> Scope:
    readable = selectors.readable_scope(user, collection_ids)
    return Scope(collection_ids=readable, policies=policies_for_collections(readable))


def governed_question(*, scope: Scope, question: str) -> str:
    """The question as search, storage and the model see it: personal data redacted."""
    return redact_text(question.strip(), policy=scope.question_policy)


def redactions_added(raw: str, governed: str) -> int:
    """How many values the redaction replaced (markers added), for the audit trail."""
    return len(MARKER.findall(governed)) - len(MARKER.findall(raw))


def governed_hits(hits: list[SearchHit], *, scope: Scope) -> list[SearchHit]:
    """Retrieved chunks were redacted at ingestion. This second pass, under each chunk's collection policy,
    catches what an older ingestion or a policy change left behind (a document waiting to be processed again
    still has its old chunks) before the text reaches the model or a search result. Every hit lies in
    ``scope`` (the search was restricted to it), whose policies were read with it."""
    policies = scope.policies
    governed = []
    for hit in hits:
        policy = policies[hit.collection_id].for_prompt()
        governed.append(
            replace(
                hit,
                title=redact_text(hit.title, policy=policy),
                section=redact_text(hit.section, policy=policy),
                text=redact_text(hit.text, policy=policy),
            )
        )
    return governed


def special_flag(chunk_ids: list[int]) -> dict[str, Any]:
    """Audit details flagging a retrieval of special-category chunks (empty when there was none)."""
    return {"special_category": True, "special_chunks": chunk_ids} if chunk_ids else {}


def scope_search(*, user: Any, scope: Scope, query: str, k: int) -> list[SearchHit]:
    """The hybrid search over ``scope`` (the access rule is applied inside the statement again), unredacted:
    the answer flow keeps the stored text to hash it for provenance."""
    return selectors.chunk_search(user=user, query=query, k=k, collection_ids=scope.collection_ids)


def search(
    *, user: Any, query: str, k: int = 10, collection_ids: list[int] | None = None, actor: Actor
) -> list[SearchHit]:
    """``/search``: the governed query, the governed hits, one audit event."""
    scope = scope_for(user=user, collection_ids=collection_ids)
    # The query is redacted like a question: personal data does not reach the search logs or statistics.
    governed_query = governed_question(scope=scope, question=query)
    hits = governed_hits(scope_search(user=user, scope=scope, query=governed_query, k=k), scope=scope)
    # A title naming a special category is shown only with a ``special`` grant, as in document lists and citations.
    shown = document_titles_shown(user=user, document_ids={hit.document_id for hit in hits})
    hits = [hit if hit.document_id in shown else replace(hit, title=HIDDEN_TITLE) for hit in hits]
    audit_record(
        action="search",
        actor=actor,
        details={
            "k": k,
            "requested_collections": collection_ids,
            "chunks": [hit.chunk_id for hit in hits],
            "query_redactions": redactions_added(query.strip(), governed_query),
            **special_flag([hit.chunk_id for hit in hits if hit.special_categories]),
        },
    )
    return hits
