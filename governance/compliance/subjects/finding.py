"""Finding a person's occurrences two ways, so that neither a missed recognition nor a redaction hides them:
the **subject index** (``SubjectMention`` rows keyed by HMAC(type + normalised value), written at ingestion
for every finding whatever the policy did with it) and an **exact search** — a regular expression per
identifier over every stored text and over the stored files of documents not yet indexed
(``rag.selectors.subjects``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from governance.compliance.subjects.identifiers import identifiers_regex, subject_keys
from governance.models import SubjectMention, SubjectRequest
from rag.selectors.subjects import documents_by_id, documents_unindexed_matching, texts_matching


@dataclass
class Occurrences:
    by_index: set[int] = field(default_factory=set)  # chunk ids, from the subject index
    by_exact: set[int] = field(default_factory=set)  # chunk ids, from the exact search
    entity_types: dict[int, set[str]] = field(default_factory=dict)  # chunk id → types found by the index
    titled_documents: set[int] = field(default_factory=set)  # title or file name names the subject
    answers: set[int] = field(default_factory=set)  # question, answer text or a citation quotes the subject
    conversations: set[int] = field(default_factory=set)  # conversation title names the subject
    # Documents not (or not yet) indexed — queued, processing, failed — whose stored file mentions the subject.
    unindexed_documents: set[int] = field(default_factory=set)
    # Not indexed and not readable as text (a damaged PDF that failed ingestion): cannot be ruled out.
    unsearchable_documents: set[int] = field(default_factory=set)
    # Data-subject requests whose note or rejection reason names the subject (stored pseudonymised).
    requests: set[int] = field(default_factory=set)

    @property
    def chunks(self) -> set[int]:
        return self.by_index | self.by_exact

    def total(self) -> int:
        return (
            len(self.chunks)
            + len(self.titled_documents)
            + len(self.answers)
            + len(self.conversations)
            + len(self.unindexed_documents)
            + len(self.requests)
        )


def subject_find(identifiers: dict[str, list[str]]) -> Occurrences:
    found = Occurrences()
    for chunk_id, document_id, entity_type in SubjectMention.objects.filter(
        subject__in=subject_keys(identifiers)
    ).values_list("chunk_id", "document_id", "entity_type"):
        if chunk_id is None:  # the document's file name or title (redacted at upload) names the subject
            found.titled_documents.add(document_id)
            continue
        found.by_index.add(chunk_id)
        found.entity_types.setdefault(chunk_id, set()).add(entity_type)
    pattern = identifiers_regex(identifiers)
    matches = texts_matching(pattern=pattern)
    found.by_exact.update(matches.chunks)
    found.titled_documents.update(matches.documents)
    found.answers.update(matches.answers)
    found.conversations.update(matches.conversations)
    found.unindexed_documents, found.unsearchable_documents = documents_unindexed_matching(pattern=pattern)
    found.requests = requests_matching(pattern)
    return found


def requests_matching(pattern: str) -> set[int]:
    """Ids of the data-subject requests whose note or reason matches (``~*``, as the domain's exact search)."""
    return set(
        SubjectRequest.objects.filter(Q(note__iregex=pattern) | Q(error__iregex=pattern)).values_list(
            "pk", flat=True
        )
    )


def unsearchable_listed(document_ids: set[int]) -> list[dict[str, Any]]:
    """Documents that could not be searched, as a report lists them for an officer to check."""
    return [
        {
            "document_id": d.pk,
            "collection_id": d.collection_id,
            "status": d.status,
            "uploaded_at": d.created_at.isoformat(),
        }
        for d in documents_by_id(document_ids=document_ids).values()
    ]
