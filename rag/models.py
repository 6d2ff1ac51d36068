from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Case, F, Func, Q, Value, When
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField


class RegConfigField(models.CharField):
    """A PostgreSQL ``regconfig`` (text-search configuration such as ``english`` or ``turkish``).

    Stored as regconfig, not text, so the generated tsvector column can use it: ``to_tsvector(regconfig, text)``
    is immutable, a text→regconfig cast is not.
    """

    def db_type(self, connection: object) -> str:
        return "regconfig"


class Collection(models.Model):
    # Unique per owner, not globally: a global constraint told anyone creating a collection the names of
    # collections they cannot see ("already exists").
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The embedding model all its chunks' vectors come from; empty before its first document. During a model
    # change the chunks are re-embedded beside their old vectors, then all switch at once (rag.services.vectors).
    embedding_model = models.CharField(max_length=200, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="collection_unique_name_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        PROCESSING = "processing", _("processing")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(max_length=500)
    original_filename = models.CharField(max_length=500)
    mime_type = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    # Path of the stored upload relative to MEDIA_ROOT; empty once the file is gone.
    file_path = models.CharField(max_length=500, blank=True)
    # The stored file's data key, wrapped by the key-encryption key ``file_key_id`` (rag.storage). Kept here, not
    # beside the file: deleting the row shreds the file, in backups of the file store too. Empty: a file
    # stored in clear by an older version (``manage.py encrypt_uploads``), or no file.
    file_key = models.CharField(max_length=200, blank=True, editable=False)
    file_key_id = models.CharField(max_length=40, blank=True, editable=False)
    language = models.CharField(max_length=8, blank=True, help_text="ISO 639-1 code, given or detected")
    language_detected = models.BooleanField(default=False)
    # The uploader declared special-category data (KVKK Art. 6) in it: every chunk is flagged, found or not.
    special_declared = models.BooleanField(default=False)
    # Its title or file name names a special category ("… psikiyatri raporu.pdf"): both are hidden from readers
    # without a ``special`` grant (rag.selectors.document_list), like its flagged passages.
    special_title = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, help_text="Why ingestion failed, in words a person understands")
    chunk_count = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Claim/lease for the ingestion task (see rag.services.ingest.document_claim).
    task_id = models.CharField(max_length=64, blank=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ingested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One live copy of a file per collection; a failed attempt does not block a re-upload.
            models.UniqueConstraint(
                fields=["collection", "sha256"],
                condition=~Q(status="failed"),
                name="document_unique_content_per_collection",
            ),
        ]
        # Also serves the search's "which languages are present" lookup as an index-only scan.
        indexes = [
            models.Index(fields=["collection", "status", "language"], name="document_coll_status_lang")
        ]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # Denormalised from the document so the access filter and the vector index meet in one table.
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    page = models.PositiveIntegerField(null=True, blank=True)
    section = models.CharField(max_length=500, blank=True)
    token_count = models.PositiveIntegerField()
    # Any width: each model's vectors have their own partial HNSW index on ``embedding::vector(width)``
    # (rag.services.vectors), and search reads each model's vectors with that model's query embedding.
    embedding = VectorField()
    embedding_model = models.CharField(max_length=200)
    # A re-embedding in progress: the new model's vector waits here until the whole collection has one.
    pending_embedding = VectorField(null=True, blank=True)
    pending_model = models.CharField(max_length=200, blank=True, default="", db_default="")
    search_config = RegConfigField(max_length=64, default="simple")
    # Special categories of personal data (KVKK Art. 6) found in or declared for this chunk: "health", …
    # Non-empty: only readers holding a ``special`` grant on the collection retrieve it (rag.selectors).
    special_categories = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # Turkish text is lower-cased the Turkish way first (I → ı, İ → i): PostgreSQL's own lower-casing follows the
    # database's locale and would make "ISPARTA" "isparta" (stem "ispar"). Queries are folded the same way.
    search_vector = models.GeneratedField(
        expression=SearchVector(
            Case(
                When(
                    Func(
                        F("search_config"),
                        template="%(expressions)s = 'turkish'::regconfig",
                        output_field=models.BooleanField(),
                    ),
                    then=Func(
                        F("text"),
                        Value("Iİ"),
                        Value("ıi"),
                        function="translate",
                        output_field=models.TextField(),
                    ),
                ),
                default=F("text"),
                output_field=models.TextField(),
            ),
            config=F("search_config"),
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_unique_ordinal"),
        ]
        indexes = [
            GinIndex(name="chunk_search_vector_gin", fields=["search_vector"]),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class Conversation(models.Model):
    """A thread of questions by one user. Only its owner sees it (selectors filter by user)."""

    class Kind(models.TextChoices):
        CHAT = "chat"
        EVALUATION = "evaluation"  # a question of an evaluation run: kept, not listed among the user's chats

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.CHAT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="conversation_user_updated")]

    def __str__(self) -> str:
        return self.title


class Answer(models.Model):
    """One question and the answer given, with what produced it (model, prompt hash, sources)."""

    class Status(models.TextChoices):
        COMPLETE = "complete"  # the model finished (or no source was relevant: not_found)
        INTERRUPTED = "interrupted"  # the stream stopped early: client gone or model server lost midway
        FAILED = "failed"  # the model server could not be reached; no answer text

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="answers")
    question = models.TextField()
    text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    not_found = models.BooleanField(default=False, help_text="No readable source was relevant; no model call")
    model = models.CharField(max_length=200, blank=True)
    prompt_sha256 = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # The collections the user restricted the question to (empty: all readable ones).
    collection_ids = models.JSONField(default=list, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    # Emanet's own time before the model: from the request's arrival to the request to the model server
    # (search, redaction, prompt fitting, serving gate). Null when the model was not called (not found).
    prepare_ms = models.PositiveIntegerField(null=True, blank=True)
    # Provenance: the exact chunks (ids and content hashes) offered to the model and the permission decision
    # (which collections the asker could read) that produced this answer.
    provenance = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.question[:80]


class Citation(models.Model):
    """Source [n] of an answer. Title, page and snippet are copied so the answer stays readable later."""

    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="citations")
    n = models.PositiveSmallIntegerField()
    # SET_NULL: deleting a document keeps the record that it was once cited.
    chunk = models.ForeignKey(Chunk, on_delete=models.SET_NULL, null=True, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.SET_NULL, null=True, related_name="+")
    title = models.CharField(max_length=500)
    page = models.PositiveIntegerField(null=True, blank=True)
    section = models.CharField(max_length=500, blank=True)
    snippet = models.TextField()
    # False: given to the model as a source but not referenced with [n] in the answer text.
    cited = models.BooleanField(default=True)

    class Meta:
        ordering = ["answer_id", "n"]
        constraints = [models.UniqueConstraint(fields=["answer", "n"], name="citation_unique_n")]

    def __str__(self) -> str:
        return f"[{self.n}] {self.title}"


class AnswerFeedback(models.Model):
    class Rating(models.TextChoices):
        UP = "up"
        DOWN = "down"

    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["answer", "user"], name="feedback_one_per_user")]

    def __str__(self) -> str:
        return f"{self.rating} on answer {self.answer_id}"
