"""Forms of the portal's Models section (inference/views.py): they validate; the services act."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from inference.hardware import KV_CACHE_BYTES, QUANTIZATIONS
from inference.models import PUBLISHED_CHOICES
from inference.registry import licence_catalogue

PUBLISHED_LABELS = {
    "yes": _("yes"),
    "no": _("no"),
    "partly": _("partly"),
    "unknown": _("unknown"),
}
_PUBLISHED = [(key, PUBLISHED_LABELS[key]) for key, _label in PUBLISHED_CHOICES]
FACTS = (
    "params",
    "layers",
    "hidden_size",
    "heads",
    "kv_heads",
    "head_dim",
    "context_length",
    "embedding_params",
    "intermediate_size",
)


class DeclaredUseForm(forms.Form):
    internal_commercial_use = forms.BooleanField(required=False, label=_("Internal commercial use"))
    fine_tune_or_distribute_derivatives = forms.BooleanField(
        required=False, label=_("Fine-tuning or distributing derivatives")
    )
    train_other_models_on_outputs = forms.BooleanField(
        required=False, label=_("Training other models on the outputs")
    )
    monthly_active_users = forms.IntegerField(
        min_value=0, max_value=2_000_000_000, label=_("Monthly active users")
    )
    sector = forms.CharField(max_length=200, required=False, label=_("Sector"))


class RegisterForm(forms.Form):
    served_name = forms.CharField(max_length=200, label=_("Served name"))
    licence_id = forms.ChoiceField(choices=(), label=_("Licence"))
    family = forms.CharField(max_length=200, required=False, label=_("Family"))
    quantization = forms.CharField(max_length=40, initial="bf16", label=_("Quantization"))
    weights_path = forms.CharField(max_length=1000, required=False, label=_("Weights path"))
    weights_published = forms.ChoiceField(choices=_PUBLISHED, initial="unknown", label=_("Weights published"))
    code_published = forms.ChoiceField(choices=_PUBLISHED, initial="unknown", label=_("Code published"))
    data_published = forms.ChoiceField(
        choices=_PUBLISHED, initial="unknown", label=_("Training data published")
    )
    # The architecture facts of a model whose weights are not on this host (a GPU server's model).
    params = forms.IntegerField(required=False, min_value=1, max_value=10**15, label=_("Parameters"))
    layers = forms.IntegerField(required=False, min_value=1, max_value=10_000, label=_("Layers"))
    hidden_size = forms.IntegerField(required=False, min_value=1, max_value=10**7, label=_("Hidden size"))
    heads = forms.IntegerField(required=False, min_value=1, max_value=100_000, label=_("Attention heads"))
    kv_heads = forms.IntegerField(required=False, min_value=1, max_value=100_000, label=_("KV heads"))
    head_dim = forms.IntegerField(required=False, min_value=1, max_value=100_000, label=_("Head dimension"))
    context_length = forms.IntegerField(
        required=False, min_value=1, max_value=10**9, label=_("Context length")
    )
    embedding_params = forms.IntegerField(
        required=False, min_value=0, max_value=10**15, label=_("Embedding parameters")
    )
    intermediate_size = forms.IntegerField(
        required=False, min_value=1, max_value=10**7, label=_("MLP width (intermediate size)")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["licence_id"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 - declared above
        field.choices = sorted((key, f"{key}: {lic.title}") for key, lic in licence_catalogue().items())

    def facts(self) -> dict[str, int]:
        return {name: self.cleaned_data[name] for name in FACTS if self.cleaned_data.get(name) is not None}


class FitForm(forms.Form):
    quantization = forms.ChoiceField(
        choices=[(key, q.label) for key, q in QUANTIZATIONS.items()], label=_("Quantization")
    )
    context = forms.IntegerField(min_value=1, max_value=10_000_000, label=_("Context length (tokens)"))
    concurrency = forms.IntegerField(
        min_value=1, max_value=100_000, initial=1, label=_("Concurrent sequences")
    )
    gpus = forms.CharField(
        max_length=500,
        required=False,
        label=_("GPUs (GiB each, comma-separated)"),
        help_text=_("e.g. 80, 80 for two 80 GiB GPUs; leave empty for the CPU build"),
    )
    cpu_ram_gib = forms.FloatField(
        required=False, min_value=0.001, max_value=1_000_000, label=_("CPU RAM (GiB)")
    )
    gpu_memory_utilization = forms.FloatField(
        min_value=0.01, max_value=1.0, initial=0.9, label=_("GPU memory utilization")
    )
    kv_cache_dtype = forms.ChoiceField(
        choices=[(key, key) for key in KV_CACHE_BYTES], initial="auto", label=_("KV cache dtype")
    )

    def clean_gpus(self) -> list[float]:
        text = self.cleaned_data["gpus"].strip()
        if not text:
            return []
        try:
            sizes = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
        except ValueError as exc:
            raise forms.ValidationError(_("Give each GPU's memory as a number of GiB.")) from exc
        if not 1 <= len(sizes) <= 64 or not all(math.isfinite(s) and 0 < s <= 1_000_000 for s in sizes):
            raise forms.ValidationError(_("Give 1 to 64 GPUs, each with a positive number of GiB."))
        return sizes

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("gpus")) == (data.get("cpu_ram_gib") is not None) and not self.errors:
            raise forms.ValidationError(_("Give either the GPUs or the CPU RAM."))
        return data


class EvaluationUploadForm(forms.Form):
    collection = forms.TypedChoiceField(coerce=int, label=_("Collection"))
    name = forms.CharField(max_length=200, required=False, label=_("Name"))
    file = forms.FileField(label=_("File (JSONL or CSV)"))

    def __init__(self, *args: Any, collections: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["collection"].choices = collections  # type: ignore[attr-defined]


class FeedbackSetForm(forms.Form):
    collection = forms.TypedChoiceField(coerce=int, label=_("Collection"))

    def __init__(self, *args: Any, collections: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["collection"].choices = collections  # type: ignore[attr-defined]


class AnswerLogSetForm(FeedbackSetForm):
    limit = forms.IntegerField(min_value=1, max_value=1000, initial=100, label=_("Questions (newest first)"))


class CompareForm(forms.Form):
    run_a = forms.IntegerField(min_value=1, max_value=2**63 - 1, label=_("Run A"))
    run_b = forms.IntegerField(min_value=1, max_value=2**63 - 1, label=_("Run B"))
