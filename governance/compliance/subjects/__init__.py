"""Data-subject requests (KVKK Art. 11, GDPR Art. 15 and 17): find, export, erase — and prove it.

A compliance officer gives what identifies the person (T.C. kimlik no, tax number, e-mail, phone, IBAN, full
name). Their occurrences are found two ways, so neither a missed recognition nor a redaction hides them:
- the **subject index**: ``SubjectMention`` rows keyed by HMAC(type + normalised value), written at ingestion
  for every finding whatever the policy did with it (masked, hashed, kept, dropped);
- an **exact search**: a regular expression per identifier over every stored text — chunks and headings,
  document titles and file names, questions, answers, citation snippets, feedback comments, conversation
  titles — that also matches other spellings (``TR33 0006 …``, ``+90 (532) …``, ``AYŞE YILMAZ`` for Ayşe
  Yılmaz) and the value's pseudonym where a policy hashed it (``<TCKN_3fa9…>``).

**Access** produces an export: what is held (the passages, with everyone else's personal data masked), in
which collections, for what purposes and on what legal basis, since when, and who retrieved it according to
the audit trail. **Erasure** removes the passages (or whole documents, per the collection's
``erasure_scope``), their vectors and subject-index rows, the stored source files, the answers and citations
that quoted them and the conversation messages that contained them; then it searches again — index and
exact search — and must find nothing; the receipt (counts, content hashes, when, by whom, the verification)
goes to the audit trail in the same transaction. Finally the subject's own pseudonym keys are destroyed
(crypto-shredding): the audit rows that named the subject by those pseudonyms stay, and the chain over them
still verifies, but nobody can link them to the person any more.

The modules, bottom up: ``identifiers`` (checking them, subject keys, pseudonyms, spellings), ``finding``,
``lifecycle`` (open, approve, reject, queue, complete), ``export`` (access), ``erasure`` (one function per
step: plan, delete, verify, receipt, wipe earlier exports, shred keys) and ``processing`` (a worker runs a
queued request). The domain's rows are read through ``rag.selectors.subjects`` and deleted through
``rag.services.deletion``, never touched here.
"""

from governance.compliance.subjects.erasure import subject_erase
from governance.compliance.subjects.export import export_as_read_by, subject_access, subject_access_export
from governance.compliance.subjects.finding import Occurrences, subject_find
from governance.compliance.subjects.identifiers import (
    IDENTIFIERS,
    SubjectRequestError,
    identifier_patterns,
    identifiers_clean,
    subject_keys,
    subject_refs,
)
from governance.compliance.subjects.lifecycle import (
    DUE_DAYS,
    OPEN,
    PROCESS_TASK,
    PROCESSING_LEASE_S,
    SEAL_PURPOSE,
    UNANSWERED,
    Kind,
    Status,
    is_overdue,
    overdue_q,
    subject_request_approve,
    subject_request_create,
    subject_request_reject,
    subject_request_retry,
    subject_requests_requeue,
)
from governance.compliance.subjects.processing import subject_request_process

__all__ = [
    "export_as_read_by",
    "DUE_DAYS",
    "IDENTIFIERS",
    "OPEN",
    "PROCESSING_LEASE_S",
    "PROCESS_TASK",
    "SEAL_PURPOSE",
    "UNANSWERED",
    "Kind",
    "Occurrences",
    "Status",
    "SubjectRequestError",
    "identifier_patterns",
    "identifiers_clean",
    "is_overdue",
    "overdue_q",
    "subject_access",
    "subject_access_export",
    "subject_erase",
    "subject_find",
    "subject_keys",
    "subject_refs",
    "subject_request_approve",
    "subject_request_create",
    "subject_request_process",
    "subject_request_reject",
    "subject_request_retry",
    "subject_requests_requeue",
]
