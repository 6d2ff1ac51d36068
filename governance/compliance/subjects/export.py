"""The access export (GDPR Art. 15 / KVKK Art. 11): what is held about the person — the passages, with
everyone else's personal data masked — in which collections, for what purposes and on what legal basis, since
when, and who retrieved it according to the audit trail."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit import Actor, audit_record
from governance.compliance.subjects.finding import subject_find, unsearchable_listed
from governance.compliance.subjects.identifiers import identifier_pairs, subject_keys
from governance.compliance.subjects.lifecycle import Status, request_complete
from governance.inventory import GDPR_BASIS, entry_of
from governance.models import AuditEvent, ProcessingRecord, SubjectRequest
from governance.pii import engine
from governance.pii.redaction import MARKER, pseudonym, subject_key
from rag.selectors.access import special_collections
from rag.selectors.subjects import answers_asked, chunks_for_export, collections_by_id, documents_by_id


def _own_text(text: str, own: set[str], own_pseudonyms: set[str]) -> str:
    """A passage as shown to the subject: their own data as stored, everyone else's masked to its type."""

    def foreign_marker(match: re.Match[str]) -> str:
        # <TCKN_1> masks tell nothing; a pseudonym of someone else is replaced by its type.
        return (
            match.group(0)
            if match.group(0) in own_pseudonyms or match.group(2).isdecimal()
            else f"<{match.group(1)}>"
        )

    text = MARKER.sub(foreign_marker, text)
    parts, cursor = [], 0
    for finding in engine.analyze(text):
        value = text[finding.start : finding.end]
        if subject_key(finding.entity_type, value) in own:
            continue
        parts.append(text[cursor : finding.start] + f"<{finding.entity_type}>")
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


@dataclass(frozen=True)
class SpecialRelease:
    """Who may see special-category passages in an export (KVKK Art. 6): the exporting officer where they hold
    the ``special`` grant on the collection, or anyone once a second officer approved the request for it."""

    granted_collections: frozenset[int] = frozenset()
    approved: bool = False

    @classmethod
    def for_request(cls, request: SubjectRequest) -> SpecialRelease:
        officer = request.requested_by
        granted = (
            frozenset(special_collections(officer).values_list("pk", flat=True)) if officer else frozenset()
        )
        approved = bool(
            request.include_special
            and request.approved_by_id
            and request.approved_by_id != request.requested_by_id
        )
        return cls(granted_collections=granted, approved=approved)

    def route(self, collection_id: int) -> str:
        """grant, approval, or "" (withheld)."""
        if collection_id in self.granted_collections:
            return "grant"
        return "approval" if self.approved else ""


WITHHELD_REASON = (
    "Special-category passages (KVKK Art. 6, GDPR Art. 9) of collections where the exporting officer holds no "
    "special grant are withheld; a second compliance officer's approval of a request opened with "
    "include_special releases them."
)


def subject_access_export(
    identifiers: dict[str, list[str]], *, release: SpecialRelease | None = None
) -> dict[str, Any]:
    """Everything held about the subject, for the person (GDPR Art. 15 / KVKK Art. 11). Special-category
    passages (and titles that name a special category) appear only as far as ``release`` allows; the others
    are counted, not shown."""
    release = release or SpecialRelease()
    special: Counter[str] = Counter()
    found = subject_find(identifiers)
    own = subject_keys(identifiers)
    own_pseudonyms = {f"<{t}_{pseudonym(t, v)}>" for t, v in identifier_pairs(identifiers)}
    chunks = chunks_for_export(chunk_ids=found.chunks)
    document_ids = {c.document_id for c in chunks} | found.titled_documents | found.unindexed_documents
    documents = documents_by_id(document_ids=document_ids)
    collection_ids = {d.collection_id for d in documents.values()}
    collections = collections_by_id(collection_ids=collection_ids)
    records = {r.collection_id: r for r in ProcessingRecord.objects.filter(collection_id__in=collection_ids)}
    by_document: dict[int, list[dict[str, Any]]] = defaultdict(list)
    withheld_in: Counter[int] = Counter()
    for chunk in chunks:
        if chunk.special_categories:
            route = release.route(chunk.collection_id)
            special[route or "withheld"] += 1
            if not route:
                withheld_in[chunk.document_id] += 1
                continue
        by_document[chunk.document_id].append(
            {
                "chunk_id": chunk.pk,
                "ordinal": chunk.ordinal,
                "page": chunk.page,
                "section": _own_text(chunk.section, own, own_pseudonyms),
                "text": _own_text(chunk.text, own, own_pseudonyms),
                "found_by": [
                    name
                    for name, ids in (("subject_index", found.by_index), ("exact_search", found.by_exact))
                    if chunk.pk in ids
                ],
                "personal_data_types": sorted(found.entity_types.get(chunk.pk, ())),
                "special_categories": list(chunk.special_categories),
                # How a special-category passage was released: by the requesting officer's grant (shown only
                # to readers who hold it too, see export_as_read_by) or by a second officer's approval.
                **({"released_by": release.route(chunk.collection_id)} if chunk.special_categories else {}),
            }
        )
    users = _usernames()
    export_documents: list[dict[str, Any]] = [
        {
            "document_id": d.pk,
            "collection_id": d.collection_id,
            "title": _own_text(d.title, own, own_pseudonyms) if _title_shown(d, release, special) else None,
            "title_released_by": release.route(d.collection_id) if d.special_title else None,
            "held_since": d.created_at.isoformat(),
            "ingested_at": d.ingested_at.isoformat() if d.ingested_at else None,
            "uploaded_by": users.get(d.uploaded_by_id or 0, ""),
            "original_file_held": bool(d.file_path),
            "status": d.status,  # not "ready": held as the uploaded file only, found by searching it
            "sha256": d.sha256,
            "passages": by_document.get(d.pk, []),
            "special_passages_withheld": withheld_in[d.pk],
        }
        for d in sorted(documents.values(), key=lambda d: (d.created_at, d.pk))
    ]
    export_collections = []
    for collection_id in sorted(collection_ids):
        entry = entry_of(records.get(collection_id))
        export_collections.append(
            {
                "collection_id": collection_id,
                "name": collections[collection_id].name,
                "purpose": entry.purpose,
                "legal_basis": entry.legal_basis,
                "gdpr_basis": GDPR_BASIS.get(entry.legal_basis, ""),  # type: ignore[call-overload]
                "data_categories": list(entry.data_categories),
                "recipients": list(entry.recipients),
                "retention_days": entry.retention_days,
                "special_categories": entry.special_categories,
            }
        )
    answers = answers_asked(answer_ids=found.answers)
    since = min((d.created_at for d in documents.values()), default=None)
    return {
        "held": bool(export_documents or found.answers),
        "held_since": since.isoformat() if since else None,
        "summary": {
            "collections": len(export_collections),
            "documents": len(export_documents),
            "passages": len(chunks) - special["withheld"],
            "questions_and_answers": len(found.answers),
        },
        "special_categories": {
            "released_by_grant": special["grant"],
            "released_by_approval": special["approval"],
            "withheld": special["withheld"],
            "titles_withheld": special["title_withheld"],
            "reason": WITHHELD_REASON if special["withheld"] or special["title_withheld"] else "",
        },
        "collections": export_collections,
        "documents": export_documents,
        "questions_and_answers": [
            {
                "answer_id": a.pk,
                "asked_at": a.created_at.isoformat(),
                "asked_by": users.get(a.conversation.user_id, ""),
                "question": _own_text(a.question, own, own_pseudonyms),
            }
            for a in answers
        ],
        "accessed": _accesses(
            document_ids, {p["chunk_id"] for passages in by_document.values() for p in passages}, users
        ),
        # Failed uploads whose file could not be read as text: they may mention the person; an officer checks.
        "unsearchable_documents": unsearchable_listed(found.unsearchable_documents),
    }


def export_as_read_by(export: dict[str, Any], *, request: SubjectRequest, reader: Any) -> dict[str, Any]:
    """The stored export as ``reader`` may see it. Passages (and titles) released by the *requesting*
    officer's ``special`` grant are shown to another officer only where they hold that grant too; what a
    second officer's approval released is for every officer. The stored export itself is not changed."""
    if reader.pk == request.requested_by_id or not export.get("documents"):
        return export
    granted = set(special_collections(reader).values_list("pk", flat=True))
    hidden = titles_hidden = 0
    documents = []
    for document in export["documents"]:
        readable = document["collection_id"] in granted
        passages = [p for p in document["passages"] if p.get("released_by") != "grant" or readable]
        hidden += len(document["passages"]) - len(passages)
        document = {**document, "passages": passages}
        if document.get("title_released_by") == "grant" and not readable and document.get("title"):
            document["title"], titles_hidden = None, titles_hidden + 1
        documents.append(document)
    if not (hidden or titles_hidden):
        return export
    special = {**export.get("special_categories", {}), "hidden_from_reader": hidden}
    special["titles_hidden_from_reader"] = titles_hidden
    return {**export, "documents": documents, "special_categories": special}


def _title_shown(document: Any, release: SpecialRelease, special: Counter[str]) -> bool:
    """A title that names a special category ("… psikiyatri raporu") follows the passages' rule."""
    if not document.special_title or release.route(document.collection_id):
        return True
    special["title_withheld"] += 1
    return False


def _usernames() -> dict[int, str]:
    return dict(get_user_model().objects.values_list("pk", "username"))


def _accesses(document_ids: set[int], chunk_ids: set[int], users: dict[int, str]) -> list[dict[str, Any]]:
    """Who retrieved the subject's passages or opened their documents, per the audit trail."""
    if not document_ids and not chunk_ids:
        return []
    condition = Q(
        action__in=["document.view", "document.upload"], target_id__in=[str(i) for i in document_ids]
    )
    for chunk_id in sorted(chunk_ids)[:1000]:
        condition |= Q(action="search", details__chunks__contains=[chunk_id])
        condition |= Q(action="ask", details__chunks__contains=[{"chunk_id": chunk_id}])
    rows = []
    for event in AuditEvent.objects.filter(condition).order_by("seq")[:5000]:
        chunks = event.details.get("chunks", []) if isinstance(event.details, dict) else []
        ids = [c["chunk_id"] if isinstance(c, dict) else c for c in chunks]
        rows.append(
            {
                "seq": event.seq,
                "at": event.created_at.isoformat(),
                "action": event.action,
                "user": users.get(event.actor_user_id or 0, ""),
                "role": event.role,
                "document_id": int(event.target_id) if event.target_type == "document" else None,
                "passages": sorted(set(ids) & chunk_ids),
            }
        )
    return rows


def subject_access(
    *, request: SubjectRequest, identifiers: dict[str, list[str]], actor: Actor
) -> SubjectRequest:
    """Carry out an access request: the export is made first, then the request completed with it under a
    lock (a redelivered run that finds it done stops)."""
    release = SpecialRelease.for_request(request)
    export = subject_access_export(identifiers, release=release)
    special = export["special_categories"]
    export = {
        "request_id": request.pk,
        "kind": "access",
        "generated_at": timezone.now().isoformat(),
        "identifier_types": request.identifier_types,
        **export,
    }
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != Status.PROCESSING:  # another run finished it meanwhile
            return request
        request_complete(
            request,
            result=export,
            action="subject_request.access",
            actor=actor,
            details={
                "subject": request.subject_refs,
                "summary": export["summary"],
                "export_sha256": hashlib.sha256(_canonical(export).encode()).hexdigest(),
                "documents": [d["document_id"] for d in export["documents"]],
                "special": {k: v for k, v in special.items() if k != "reason"},
            },
        )
        if any(v for k, v in special.items() if k != "reason"):
            # Counts only: which route released special-category passages, who approved, what was withheld.
            audit_record(
                action="subject_request.access_special",
                actor=actor,
                target_type="subject_request",
                target_id=request.pk,
                details={
                    "subject": request.subject_refs,
                    "requested_by": request.requested_by_id,
                    "approved_by": request.approved_by_id if release.approved else None,
                    "include_special": request.include_special,
                    **{k: v for k, v in special.items() if k != "reason"},
                },
            )
    return request


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
