"""The model registry: which models Emanet may answer with, their facts, licence and the verdict for the
organisation's declared use, and the editable licence catalogue. Writes go through inference.registry
(services)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from inference.licences import PERMISSIONS, STATUSES

PUBLISHED_CHOICES = [("yes", "yes"), ("no", "no"), ("partly", "partly"), ("unknown", "unknown")]
PERMISSION_CHOICES = [(p, p) for p in PERMISSIONS]
LICENCE_KEY = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]*$",
    "lower-case letters, digits, dots, hyphens and underscores, e.g. llama-3.1-community",
)


class LicenceEntry(models.Model):
    """One licence of the catalogue as the organisation's counsel keeps it. Seeded from the built-in catalogue
    (inference.licences.CATALOGUE, with its sources); edits, additions and resets go through
    inference.registry.licence_save / licence_reset / licence_delete, which audit and recompute the verdicts.
    A built-in licence without a row reads as its built-in text."""

    key = models.CharField(
        max_length=60, primary_key=True, validators=[LICENCE_KEY], help_text="e.g. apache-2.0"
    )
    title = models.CharField(max_length=300)
    commercial_use = models.CharField(max_length=12, choices=PERMISSION_CHOICES)
    commercial_use_condition = models.TextField(blank=True)
    derivatives = models.CharField(max_length=12, choices=PERMISSION_CHOICES)
    derivatives_condition = models.TextField(blank=True)
    outputs_to_train_other_models = models.CharField(max_length=12, choices=PERMISSION_CHOICES)
    outputs_to_train_other_models_condition = models.TextField(blank=True)
    user_threshold_mau = models.BigIntegerField(
        null=True, blank=True, help_text="above this many monthly active users a separate licence is needed"
    )
    user_threshold_commercial_use_only = models.BooleanField(default=False)
    user_threshold_text = models.TextField(blank=True)
    acceptable_use_policy = models.CharField(max_length=500, blank=True, help_text="URL")
    attribution = models.CharField(max_length=300, blank=True)
    derivative_name_prefix = models.CharField(max_length=100, blank=True)
    notices = models.JSONField(default=list, blank=True, help_text="further conditions, one string each")
    sources = models.JSONField(default=list, help_text='[{"fact": "commercial_use", "url": "https://…"}, …]')
    builtin = models.BooleanField(default=False, editable=False, help_text="shipped with Emanet")
    shipped = models.JSONField(
        null=True, blank=True, editable=False, help_text="a built-in licence's text as Emanet shipped it"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = "licence"

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"


class RegisteredModel(models.Model):
    """One model the organisation has registered, under the name the model server serves it as."""

    class Verdict(models.TextChoices):
        ALLOWED = "allowed", "allowed"
        ALLOWED_WITH_CONDITIONS = "allowed_with_conditions", "allowed with conditions"
        BLOCKED = "blocked", "blocked"

    served_name = models.CharField(max_length=200, unique=True, help_text="the id in the server's /v1/models")
    family = models.CharField(
        max_length=200, blank=True, help_text="e.g. HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    params = models.BigIntegerField(null=True, blank=True)
    layers = models.PositiveIntegerField(null=True, blank=True)
    hidden_size = models.PositiveIntegerField(null=True, blank=True)
    heads = models.PositiveIntegerField(null=True, blank=True, help_text="attention (query) heads")
    kv_heads = models.PositiveIntegerField(null=True, blank=True)
    head_dim = models.PositiveIntegerField(null=True, blank=True)
    context_length = models.PositiveIntegerField(null=True, blank=True)
    intermediate_size = models.PositiveIntegerField(null=True, blank=True, help_text="the MLP's width")
    embedding_params = models.BigIntegerField(
        null=True, blank=True, help_text="token embeddings + an untied lm_head (vocab x hidden each)"
    )
    quantization = models.CharField(max_length=40, blank=True, default="bf16")
    weights_path = models.CharField(max_length=1000, blank=True)
    weights_manifest = models.JSONField(default=dict, blank=True, help_text="weight file → SHA-256")
    manifest_status = models.CharField(
        max_length=10,
        default="none",
        help_text="none (no weights on this host), pending (a worker is hashing them), complete, failed",
    )
    weights_published = models.CharField(max_length=10, choices=PUBLISHED_CHOICES, default="unknown")
    code_published = models.CharField(max_length=10, choices=PUBLISHED_CHOICES, default="unknown")
    data_published = models.CharField(max_length=10, choices=PUBLISHED_CHOICES, default="unknown")
    licence_id = models.CharField(max_length=60, help_text="a key of the licence catalogue")
    verdict_status = models.CharField(max_length=30, choices=Verdict.choices, default=Verdict.BLOCKED)
    verdict_conditions = models.JSONField(default=list, blank=True)
    verdict_reasons = models.JSONField(default=list, blank=True)
    verdict_computed_at = models.DateTimeField(null=True, blank=True)
    # The last evaluation run of each set on this model, by set id: {"run", "passed", "failures", "at"}
    # (inference.registry.model_evaluated). The gate reads the set MODEL_SWITCH_REQUIRES_EVAL names.
    evaluations = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["served_name"]

    def __str__(self) -> str:
        return self.served_name

    @property
    def open_source(self) -> bool:
        return self.weights_published == self.code_published == self.data_published == "yes"


assert {c for c, _ in RegisteredModel.Verdict.choices} == set(STATUSES)  # noqa: S101 - catalogue and model agree


class DeclaredUseRecord(models.Model):
    """The organisation's declared use of its models (one row, pk=1). Changed only through
    inference.registry.declared_use_set, which recomputes every verdict."""

    internal_commercial_use = models.BooleanField(default=True)
    fine_tune_or_distribute_derivatives = models.BooleanField(default=False)
    train_other_models_on_outputs = models.BooleanField(default=False)
    monthly_active_users = models.PositiveIntegerField(default=1_000)
    sector = models.CharField(max_length=200, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "declared use"
        verbose_name_plural = "declared use"

    def __str__(self) -> str:
        return "Declared use of models"
