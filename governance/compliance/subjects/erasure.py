"""Erasure (GDPR Art. 17, KVKK Art. 7) — and proof of it.

The passages that mention the person go (or whole documents, per the collection's ``erasure_scope``), with
their vectors and subject-index rows, the stored source files, the cached answers and citations that quoted
them and the conversations left empty; then the same searches run again — subject index and exact search —
and must find nothing; the receipt (counts, content hashes, when, by whom, the verification) goes to the audit
trail in the same transaction. Earlier access exports of the person are wiped, and the subject's own pseudonym
keys destroyed (crypto-shredding): the audit rows that named the subject by those pseudonyms stay, and the
chain over them still verifies, but nobody can link them to the person any more.

Every step below is one function; ``subject_erase`` runs them in order inside one transaction, and reclaims
the deleted rows' space (VACUUM) after it commits. Deleting goes through ``rag.services.deletion``; reading the
domain's rows through ``rag.selectors.subjects``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Func, Value
from django.utils import timezone

from governance.audit import Actor
from governance.compliance.evaluation_upkeep import evaluation_items_prune
from governance.compliance.retention import document_destroy
from governance.compliance.subjects.finding import (
    Occurrences,
    requests_matching,
    subject_find,
    unsearchable_listed,
)
from governance.compliance.subjects.identifiers import (
    identifier_patterns,
    identifiers_regex,
    subject_keys,
    subject_ref,
)
from governance.compliance.subjects.lifecycle import Kind, Status, request_complete
from governance.models import DestructionRecord, ProcessingRecord, SubjectKey, SubjectMention, SubjectRequest
from rag.selectors.subjects import (
    answers_citing,
    chunk_texts,
    chunks_left,
    document_chunk_texts,
    documents_locked,
)
from rag.services.deletion import (
    DeletedAnswers,
    answers_delete,
    chunks_vacuum,
    passages_delete,
)


@dataclass(frozen=True)
class ErasurePlan:
    """What goes, decided before anything is deleted."""

    documents: dict[int, Any]  # every document touched, locked for update, by id (pk order)
    whole: set[int]  # documents destroyed whole
    partial: dict[int, list[int]]  # document id → the passages removed from it; the rest stays
    chunks: list[dict[str, Any]]  # every passage removed: chunk id, document id, sha256 of its text
    answers: set[int]  # cached answers that quoted the subject or name them
    conversations: set[int]  # conversations whose title names the subject
    mentions: int  # subject-index rows, counted before the chunks (and with them their rows) go


@dataclass(frozen=True)
class Deleted:
    answers: DeletedAnswers
    source_files: int  # stored files of the documents redacted (not destroyed)
    destroyed: list[dict[str, Any]]  # per document destroyed: id, sha256, chunks
    request_notes: int = 0  # data-subject requests whose note or reason named the subject


def subject_erase(
    *, request: SubjectRequest, identifiers: dict[str, list[str]], actor: Actor
) -> SubjectRequest:
    """Carry out an erasure request: all of it in one transaction, or nothing."""
    with transaction.atomic():
        # Runs of the same request (a redelivery) queue up here; the second finds it done and stops.
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != Status.PROCESSING:
            return request
        plan = erasure_plan(identifiers=identifiers, found=subject_find(identifiers))
        deleted = erasure_delete(request=request, identifiers=identifiers, plan=plan, actor=actor)
        after = erasure_verify(identifiers=identifiers)
        receipt = erasure_receipt(
            request=request, identifiers=identifiers, actor=actor, plan=plan, deleted=deleted, after=after
        )
        # Before the keys go: earlier exports are recognised by the subject's pseudonyms.
        wiped, linked_refs = access_exports_wipe(request=request, identifiers=identifiers, plan=plan)
        receipt["counts"]["access_exports_wiped"] = wiped
        receipt["subject_keys_shredded"] = subject_keys_shred(
            request=request, identifiers=identifiers, linked_refs=linked_refs
        )
        request_complete(
            request,
            result=receipt,
            action="subject_request.erasure_receipt",
            actor=actor,
            details={k: v for k, v in receipt.items() if k not in {"chunks", "request_id", "kind"}},
        )
    chunks_vacuum()
    return request


def erasure_plan(*, identifiers: dict[str, list[str]], found: Occurrences) -> ErasurePlan:
    """Which passages, whole documents and answers go. A document goes whole when its title or file name
    names the subject, when it is not indexed (in flight or failed: only the whole document can go), when
    its collection's erasure scope is the document, or when no passage of it would remain. Locks the
    documents, in pk order."""
    # Counted first: deleting the chunks deletes their rows too.
    mentions = SubjectMention.objects.filter(subject__in=subject_keys(identifiers)).count()
    chunk_rows = chunk_texts(chunk_ids=found.chunks)
    hit_documents = (
        {document_id for _pk, document_id, _text in chunk_rows}
        | found.titled_documents
        | found.unindexed_documents
    )
    documents = documents_locked(document_ids=hit_documents)
    scopes = dict(
        ProcessingRecord.objects.filter(
            collection_id__in={d.collection_id for d in documents.values()}
        ).values_list("collection_id", "erasure_scope")
    )
    whole = {
        d.pk
        for d in documents.values()
        if d.pk in found.titled_documents
        or d.pk in found.unindexed_documents
        or scopes.get(d.collection_id) == ProcessingRecord.ErasureScope.DOCUMENT
    }
    partial_chunks = [
        (pk, doc, text) for pk, doc, text in chunk_rows if doc not in whole and doc in documents
    ]
    # A document left without passages goes whole.
    remaining = chunks_left(
        document_ids={doc for _pk, doc, _t in partial_chunks},
        excluding=[pk for pk, _doc, _t in partial_chunks],
    )
    whole |= {doc for _pk, doc, _t in partial_chunks if not remaining.get(doc)}
    partial_chunks = [(pk, doc, text) for pk, doc, text in partial_chunks if doc not in whole]
    partial: dict[int, list[int]] = {}
    for pk, doc, _text in partial_chunks:
        partial.setdefault(doc, []).append(pk)
    removed = partial_chunks + document_chunk_texts(document_ids=whole)
    # Cached answers that quoted a passage mentioning the subject, or name them. Answers that cited another
    # passage of a document destroyed whole keep their text; their citation's copy goes with the document.
    answers = set(found.answers) | answers_citing(chunk_ids=found.chunks)
    return ErasurePlan(
        documents=documents,
        whole=whole,
        partial=partial,
        chunks=[
            {"chunk_id": pk, "document_id": doc, "sha256": hashlib.sha256(text.encode()).hexdigest()}
            for pk, doc, text in removed
        ],
        answers=answers,
        conversations=set(found.conversations),
        mentions=mentions,
    )


def erasure_delete(
    *, request: SubjectRequest, identifiers: dict[str, list[str]], plan: ErasurePlan, actor: Actor
) -> Deleted:
    """Delete what the plan says, through the domain's deletion service; a destruction record per document
    destroyed; then the subject-index rows that did not go with their chunks."""
    dropped = answers_delete(answer_ids=plan.answers, retitle_conversation_ids=plan.conversations)
    evaluation_items_prune(actor=actor)  # evaluation questions copied from the answers go with them
    files = 0
    for doc, pks in plan.partial.items():
        files += passages_delete(document=plan.documents[doc], chunk_ids=pks)
    destroyed = []
    for doc in sorted(plan.whole):
        deleted = document_destroy(
            document=plan.documents[doc],
            actor=actor,
            reason=DestructionRecord.Reason.ERASURE,
            run_id=f"erasure-{request.pk}",
        )
        destroyed.append({"document_id": doc, "sha256": deleted.sha256, "chunks": deleted.chunks})
    SubjectMention.objects.filter(subject__in=subject_keys(identifiers)).delete()
    notes = request_notes_erase(identifiers=identifiers)
    return Deleted(answers=dropped, source_files=files, destroyed=destroyed, request_notes=notes)


def request_notes_erase(*, identifiers: dict[str, list[str]]) -> int:
    """Notes and reasons of data-subject requests (this one included) that name the subject: every spelling
    and pseudonym of the subject's identifiers becomes ``<erased>``. Returns how many requests changed."""
    pattern = identifiers_regex(identifiers)
    ids = requests_matching(pattern)
    for field in ("note", "error"):
        SubjectRequest.objects.filter(pk__in=ids).update(
            **{
                field: Func(
                    F(field), Value(pattern), Value("<erased>"), Value("gi"), function="regexp_replace"
                )
            }
        )
    return len(ids)


def erasure_verify(*, identifiers: dict[str, list[str]]) -> Occurrences:
    """Proof: the same two searches again, inside the same transaction, must find nothing."""
    after = subject_find(identifiers)
    if after.total():
        raise RuntimeError(f"erasure incomplete: {after.total()} occurrence(s) still found")
    return after


def erasure_receipt(
    *,
    request: SubjectRequest,
    identifiers: dict[str, list[str]],
    actor: Actor,
    plan: ErasurePlan,
    deleted: Deleted,
    after: Occurrences,
) -> dict[str, Any]:
    """What was erased, by whom, and the verification: counts and content hashes, no content."""
    documents = plan.documents
    dropped = deleted.answers
    hashes = sorted(str(c["sha256"]) for c in plan.chunks)
    return {
        "request_id": request.pk,
        "kind": "erasure",
        "erased_at": timezone.now().isoformat(),
        "requested_by": request.requested_by_id,
        "approved_by": request.approved_by_id,
        "executed_by": actor.user_id,
        "identifier_types": request.identifier_types,
        "subject": request.subject_refs,
        "counts": {
            "chunks": len(plan.chunks),
            "vectors": len(plan.chunks),
            "documents_destroyed": len(deleted.destroyed),
            "documents_redacted": len(plan.partial),
            "source_files": deleted.source_files + sum(1 for d in plan.whole if documents[d].file_path),
            "subject_index_rows": plan.mentions,
            "answers": dropped.answers,
            "citations": dropped.citations,
            "conversations_deleted": dropped.conversations_deleted,
            "conversations_retitled": dropped.conversations_retitled,
            "request_notes_redacted": deleted.request_notes,
        },
        "collections": sorted({documents[d].collection_id for d in documents}),
        "documents_destroyed": deleted.destroyed,
        "documents_redacted": sorted(plan.partial),
        "chunks": plan.chunks,
        "chunks_digest": hashlib.sha256("".join(hashes).encode()).hexdigest(),
        # Could not be searched (failed uploads that do not read as text): for an officer to check and delete.
        "unsearchable_documents": unsearchable_listed(after.unsearchable_documents),
        "verification": {
            "subject_index_hits": len(after.by_index),
            "exact_search_hits": len(after.by_exact),
            "other_hits": len(after.titled_documents)
            + len(after.answers)
            + len(after.conversations)
            + len(after.unindexed_documents)
            + len(after.requests),
            "patterns": len(identifier_patterns(identifiers)),
        },
    }


def access_exports_wipe(
    *, request: SubjectRequest, identifiers: dict[str, list[str]], plan: ErasurePlan
) -> tuple[int, set[str]]:
    """Earlier access exports of this subject hold their passages in clear: they go too. They are recognised
    by the subject's pseudonyms (which exist until the keys are shredded), by holding a passage just removed,
    or by text that names the person (an export made with other identifiers than this erasure's). Returns
    how many were wiped and the pseudonyms they were made under."""
    own_refs = {ref for refs in request.subject_refs.values() for ref in refs}
    removed = {c["chunk_id"] for c in plan.chunks}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM governance_subjectrequest WHERE kind = 'access' AND result::text ~* %s",
            [identifiers_regex(identifiers)],
        )
        naming = {row[0] for row in cursor.fetchall()}
    wiped = 0
    linked_refs: set[str] = set()
    for earlier in SubjectRequest.objects.select_for_update().filter(kind=Kind.ACCESS).exclude(result={}):
        held = {
            passage.get("chunk_id")
            for document in (earlier.result.get("documents") or [])
            for passage in (document.get("passages") or [])
        }
        theirs = {ref for refs in earlier.subject_refs.values() for ref in refs}
        if own_refs & theirs or held & removed or earlier.pk in naming:
            earlier.result = {"erased": True, "by_erasure_request": request.pk}
            earlier.save(update_fields=["result"])
            wiped += 1
            linked_refs |= theirs
    return wiped, linked_refs


def subject_keys_shred(
    *, request: SubjectRequest, identifiers: dict[str, list[str]], linked_refs: set[str]
) -> int:
    """Destroy the subject's pseudonym keys: those of the identifiers given, and those of identifiers given in
    earlier requests about the same person (recognised by a shared pseudonym, or by an export that held their
    passages) — an access request that also named a phone number must not stay linkable through it. Returns
    how many keys were destroyed."""
    refs = {ref for values in request.subject_refs.values() for ref in values}
    linked = refs | linked_refs  # the pseudonyms of the exports just wiped are this person's too
    for earlier in SubjectRequest.objects.exclude(pk=request.pk).only("subject_refs"):
        theirs = {ref for values in (earlier.subject_refs or {}).values() for ref in values}
        if theirs & refs:
            linked |= theirs
    doomed = set(SubjectKey.objects.filter(lookup__in=subject_keys(identifiers)).values_list("pk", flat=True))
    if linked - refs:
        for key in SubjectKey.objects.exclude(pk__in=doomed).iterator():
            if subject_ref(key) in linked:
                doomed.add(key.pk)
    return SubjectKey.objects.filter(pk__in=doomed).delete()[0]
