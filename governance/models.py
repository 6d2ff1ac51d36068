from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CollectionGrant(models.Model):
    """Gives a user or a group one permission on a collection besides its owner. No grant, no access.

    ``read`` lets them search, ask and open documents; ``upload`` lets them add and delete documents. The two
    are separate: an ingestion system may upload without reading. ``special`` additionally lets readers
    retrieve the collection's special-category chunks (KVKK Art. 6: health, religion, criminal record, …);
    without it those chunks are invisible to them, the owner included."""

    class Permission(models.TextChoices):
        READ = "read"
        UPLOAD = "upload"
        SPECIAL = "special"

    collection = models.ForeignKey("rag.Collection", on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="collection_grants",
    )
    group = models.ForeignKey(
        "auth.Group", on_delete=models.CASCADE, null=True, blank=True, related_name="collection_grants"
    )
    permission = models.CharField(max_length=16, choices=Permission.choices, default=Permission.READ)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="grant_user_or_group",
            ),
            models.UniqueConstraint(
                fields=["collection", "user", "permission"],
                condition=models.Q(user__isnull=False),
                name="grant_unique_user_permission",
            ),
            models.UniqueConstraint(
                fields=["collection", "group", "permission"],
                condition=models.Q(group__isnull=False),
                name="grant_unique_group_permission",
            ),
        ]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id else f"group {self.group_id}"
        return f"{who} {self.permission} {self.collection_id}"


class RedactionPolicy(models.Model):
    """What happens to each type of personal data found in a collection's documents (governance.pii.redaction).

    No row, or a type missing from ``rules``, means the strict default: mask."""

    collection = models.OneToOneField(
        "rag.Collection", on_delete=models.CASCADE, related_name="redaction_policy"
    )
    rules = models.JSONField(default=dict, blank=True, help_text="entity type → keep | mask | hash | drop")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "redaction policies"

    def __str__(self) -> str:
        return f"policy of collection {self.collection_id}"


class SubjectMention(models.Model):
    """Chunk ``chunk`` mentions the person behind ``subject`` = HMAC(PII_HMAC_KEY, type + normalised value);
    without a chunk, the document's own file name or title does (``cv_deniz.korkmaz@firma.com.tr.pdf``).

    The value itself is never stored: a data-subject request computes the key from what the person gives and
    finds their chunks after redaction. Rows go with their chunk (re-ingestion rewrites both) or, for the
    name, with their document."""

    subject = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=32)
    chunk = models.ForeignKey("rag.Chunk", on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    document = models.ForeignKey("rag.Document", on_delete=models.CASCADE, related_name="+")
    collection = models.ForeignKey("rag.Collection", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "chunk"], name="subject_mention_unique"),
            models.UniqueConstraint(
                fields=["subject", "document"],
                condition=models.Q(chunk__isnull=True),
                name="subject_mention_name_unique",
            ),
        ]
        indexes = [models.Index(fields=["subject"], name="subject_mention_subject")]

    def __str__(self) -> str:
        where = f"chunk {self.chunk_id}" if self.chunk_id else f"the name of document {self.document_id}"
        return f"{self.entity_type} {self.subject[:12]}… in {where}"


class AuditEvent(models.Model):
    """One row of the append-only, hash-chained audit trail (governance.audit).

    No foreign keys (nothing may cascade into it) and no raw personal data: actors are ids, IP addresses and
    identifiers are pseudonyms, texts are never stored. ``hash = sha256(prev_hash || canonical JSON of the
    row)``; ``seq`` is gapless and assigned under an advisory lock, so the chain cannot fork. A trigger
    rejects UPDATE and DELETE."""

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField()
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, default="ok")  # ok | denied | failed
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_key_id = models.BigIntegerField(null=True, blank=True)
    role = models.CharField(max_length=32, blank=True)
    ip = models.CharField(max_length=32, blank=True, help_text="pseudonym of the client address")
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    collection_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["created_at"], name="audit_created_at")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"


class AuditCheckpoint(models.Model):
    """A signed statement "the chain had ``seq`` rows ending in ``hash``": HMAC(AUDIT_CHECKPOINT_KEY, …).
    Deleting rows from the end of the trail (truncation) is detected against the newest checkpoint."""

    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint at #{self.seq}"


class ApiKey(models.Model):
    """A key for an internal system: named, scoped to collections and actions, expirable, revocable.

    The secret is shown once and stored as its SHA-256 (it is 256 random bits: no salt or slow hash needed).
    Each key acts as its own service user, whose grants are the key's collection scope, so every access
    check — the search SQL included — treats it like any other principal."""

    class Action(models.TextChoices):
        SEARCH = "search"
        ASK = "ask"
        UPLOAD = "upload"

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_key"
    )
    collections = models.ManyToManyField("rag.Collection", related_name="apikey_scope", blank=True)
    actions = models.JSONField(default=list)
    rate = models.CharField(max_length=20, default="120/min", help_text="requests per period, e.g. 120/min")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    is_api_key = True  # request.auth marker (governance.audit.actor_for)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ProcessingRecord(models.Model):
    """A collection's entry in the records of processing (VERBİS inventory, GDPR Art. 30). No complete entry,
    no uploads (governance.inventory)."""

    class LegalBasis(models.TextChoices):
        # KVKK Art. 5 (and Art. 6 for special categories); the GDPR Art. 6 ground each maps onto is in
        # governance.inventory.GDPR_BASIS.
        EXPLICIT_CONSENT = "explicit_consent", _("explicit consent of the data subject")
        REQUIRED_BY_LAW = "required_by_law", _("expressly provided for by law")
        VITAL_INTEREST = "vital_interest", _("protection of life or physical integrity")
        CONTRACT = "contract", _("establishment or performance of a contract")
        LEGAL_OBLIGATION = "legal_obligation", _("compliance with a legal obligation of the controller")
        MADE_PUBLIC = "made_public", _("made public by the data subject")
        LEGAL_CLAIMS = "legal_claims", _("establishment, exercise or protection of a right")
        LEGITIMATE_INTEREST = "legitimate_interest", _("legitimate interests of the controller")

    class ErasureScope(models.TextChoices):
        CHUNKS = (
            "chunks",
            _("the passages that mention the person"),
        )  # an erasure removes the chunks that mention the subject (and the source file)
        DOCUMENT = (
            "document",
            _("every document that mentions the person, whole"),
        )  # an erasure removes every document that mentions the subject, whole

    collection = models.OneToOneField("rag.Collection", on_delete=models.CASCADE, related_name="processing")
    purpose = models.TextField(blank=True)
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices, blank=True)
    data_subject_categories = models.JSONField(default=list, blank=True)
    data_categories = models.JSONField(default=list, blank=True)
    recipients = models.JSONField(default=list, blank=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    special_categories = models.BooleanField(default=False)
    erasure_scope = models.CharField(max_length=16, choices=ErasureScope.choices, default=ErasureScope.CHUNKS)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"processing record of collection {self.collection_id}"


class SubjectKey(models.Model):
    """A data subject's own pseudonym key, per identifier: audit rows about a subject request name the subject
    as HMAC(secret, …), never by a value or by the global subject key. Deleting the row after an erasure
    ("crypto-shredding") leaves those rows, and the hash chain over them, intact but unlinkable to anyone."""

    lookup = models.CharField(max_length=64, unique=True, help_text="subject_key(type, value)")
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"subject key {self.lookup[:12]}…"


class SubjectRequest(models.Model):
    """A data-subject request (KVKK Art. 11, GDPR Art. 15/17): access or erasure, due within 30 days.

    The identifiers the officer typed are kept sealed (governance.sealing) only while the request is open;
    once it is closed they are wiped, and what remains is types, pseudonyms, counts and hashes."""

    class Kind(models.TextChoices):
        ACCESS = "access"
        ERASURE = "erasure"

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval"  # an erasure waits for a second compliance officer
        QUEUED = "queued"
        PROCESSING = "processing"
        COMPLETED = "completed"
        REJECTED = "rejected"
        FAILED = "failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    identifier_types = models.JSONField(default=list)
    sealed_identifiers = models.TextField(blank=True)
    subject_refs = models.JSONField(default=dict, blank=True, help_text="type → per-subject pseudonym")
    note = models.TextField(
        blank=True, help_text="reference of the person's application; identifiers in it are pseudonymised"
    )
    # An access export with special-category passages (KVKK Art. 6) of collections where the requesting
    # officer holds no ``special`` grant: released only after a second officer approves.
    include_special = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="the access export or the erasure receipt")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "due_at"], name="subject_request_status_due")]

    def __str__(self) -> str:
        return f"{self.kind} request {self.pk}"


class DestructionRecord(models.Model):
    """Evidence that a document was destroyed (retention period over, or an erasure): kept at least
    DESTRUCTION_RECORD_KEEP_DAYS (3 years); a trigger refuses to change it or delete it earlier. No content,
    no title: ids, hashes and counts."""

    class Reason(models.TextChoices):
        RETENTION = "retention"
        ERASURE = "erasure"

    run_id = models.CharField(max_length=36, db_index=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    collection_id = models.BigIntegerField()
    document_id = models.BigIntegerField()
    document_sha256 = models.CharField(max_length=64)
    chunks = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField()
    destroyed_by = models.BigIntegerField(
        null=True, blank=True, help_text="user id; empty: the scheduled job"
    )
    keep_until = models.DateTimeField()

    class Meta:
        ordering = ["-destroyed_at", "-id"]

    def __str__(self) -> str:
        return f"document {self.document_id} destroyed ({self.reason})"


class PersonalToken(models.Model):
    """A person's API token (``Authorization: Token <key>``), like an API key: shown once, stored as its
    SHA-256 (256 random bits: no salt or slow hash needed), expirable, revocable by its owner and by
    administrators, listed by its visible ``prefix`` only (governance.tokens). Nobody can read a secret back,
    so no administrator can act as somebody else with their token."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    is_personal_token = True  # request.auth marker

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name or 'token'} ({self.prefix}…)"


class EvaluationSet(models.Model):
    """Questions with what a good answer needs (governance.compliance.evaluation): run against the current
    model and settings, they say how well Emanet answers *this* organisation's questions."""

    collection = models.ForeignKey("rag.Collection", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class EvaluationItem(models.Model):
    """One question: the documents that should be retrieved and/or a fact the answer should hold, or
    "not in the documents" (the right answer is the not-found answer)."""

    class Source(models.TextChoices):
        MANUAL = "manual"
        IMPORT = "import"
        FEEDBACK = "feedback"
        ANSWER_LOG = "answer_log"

    evaluation_set = models.ForeignKey(EvaluationSet, on_delete=models.CASCADE, related_name="items")
    question = models.TextField()
    expected_document_ids = models.JSONField(default=list, blank=True)
    expected_fact = models.TextField(blank=True)
    not_in_documents = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    source_answer_id = models.BigIntegerField(
        null=True, blank=True, help_text="the answer it came from (👎 feedback or the answer log)"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.question[:80]


class EvaluationRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETE = "complete"
        FAILED = "failed"

    evaluation_set = models.ForeignKey(EvaluationSet, on_delete=models.CASCADE, related_name="runs")
    model = models.CharField(max_length=200, blank=True)
    settings_snapshot = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    totals = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    run_as = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Renewed by the worker after each question: the claim a worker holds on the run (EVALUATION_RUN_LEASE_S).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"evaluation run {self.pk}"


class EvaluationResult(models.Model):
    """One question of one run. Metrics that do not apply to the item (no expected documents, no fact,
    an answerable question for not-found) are null."""

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="results")
    item = models.ForeignKey(EvaluationItem, on_delete=models.CASCADE, related_name="+")
    answer_id = models.BigIntegerField(null=True, blank=True)
    retrieved_document_ids = models.JSONField(default=list, blank=True)
    recall_at_k = models.FloatField(null=True, blank=True)
    reciprocal_rank = models.FloatField(null=True, blank=True)
    citation_has_fact = models.BooleanField(null=True, blank=True)
    answer_has_fact = models.BooleanField(null=True, blank=True)
    not_found = models.BooleanField(default=False)
    correct_not_found = models.BooleanField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["item_id"]
        constraints = [models.UniqueConstraint(fields=["run", "item"], name="evaluation_result_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} item {self.item_id}"
