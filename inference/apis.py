"""REST API of the model registry (administrators): registered models with their licence verdicts, the
organisation's declared use, and the hardware fit of a model. Thin views over inference.registry and
inference.hardware."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import errors, results
from governance.audit import actor_for
from governance.roles import is_admin
from inference.hardware import KV_CACHE_BYTES, QUANTIZATIONS, FitError, ModelShape, fit, shape_from_config
from inference.hardware_presets import PRESETS, preset_shape
from inference.licences import DeclaredUse
from inference.models import PUBLISHED_CHOICES, RegisteredModel
from inference.registry import (
    RegistryError,
    declared_use_get,
    declared_use_set,
    model_list,
    model_register,
    model_unregister,
    model_update,
    shape_for,
    verdict_of,
)


class _AdminOnly(APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators manage the model registry.")


class _VerdictOutput(serializers.Serializer):
    licence = serializers.CharField()
    status = serializers.ChoiceField(choices=RegisteredModel.Verdict.choices)
    conditions = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField())
    computed_at = serializers.DateTimeField(allow_null=True)


class _ModelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    served_name = serializers.CharField()
    family = serializers.CharField()
    params = serializers.IntegerField(allow_null=True)
    layers = serializers.IntegerField(allow_null=True)
    hidden_size = serializers.IntegerField(allow_null=True)
    heads = serializers.IntegerField(allow_null=True)
    kv_heads = serializers.IntegerField(allow_null=True)
    head_dim = serializers.IntegerField(allow_null=True)
    context_length = serializers.IntegerField(allow_null=True)
    embedding_params = serializers.IntegerField(allow_null=True)
    intermediate_size = serializers.IntegerField(allow_null=True)
    quantization = serializers.CharField()
    weights_path = serializers.CharField()
    weights_manifest = serializers.DictField(child=serializers.CharField())
    manifest_status = serializers.CharField(
        help_text="none (no weights on this host), pending (a worker is hashing them), complete, failed"
    )
    weights_published = serializers.CharField()
    code_published = serializers.CharField()
    data_published = serializers.CharField()
    open_source = serializers.BooleanField()
    licence_id = serializers.CharField()
    verdict = serializers.SerializerMethodField()
    evaluations = serializers.DictField(
        child=serializers.DictField(), help_text="the last run of each evaluation set on it, by set id"
    )
    created_at = serializers.DateTimeField()

    @extend_schema_field(_VerdictOutput)
    def get_verdict(self, model: RegisteredModel) -> dict[str, Any]:
        return verdict_of(model)


class _FactsInput(serializers.Serializer):
    params = serializers.IntegerField(required=False, min_value=1, max_value=10**15)
    layers = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    hidden_size = serializers.IntegerField(required=False, min_value=1, max_value=10**7)
    heads = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    kv_heads = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    head_dim = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    context_length = serializers.IntegerField(required=False, min_value=1, max_value=10**9)
    embedding_params = serializers.IntegerField(required=False, min_value=0, max_value=10**15)
    intermediate_size = serializers.IntegerField(required=False, min_value=1, max_value=10**7)


class ModelListCreateApi(_AdminOnly):
    """Registered models and their licence verdicts for the declared use. Registering reads the architecture
    facts from ``weights_path`` (a directory with config.json, or a GGUF file) and hashes the weight files."""

    class InputSerializer(serializers.Serializer):
        served_name = serializers.CharField(max_length=200, help_text="the id the model server serves it as")
        licence_id = serializers.CharField(
            max_length=60, help_text="a key of the licence catalogue (/api/v1/licences)"
        )
        family = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
        quantization = serializers.CharField(max_length=40, required=False, default="bf16")
        weights_path = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)
        weights_published = serializers.ChoiceField(choices=PUBLISHED_CHOICES, default="unknown")
        code_published = serializers.ChoiceField(choices=PUBLISHED_CHOICES, default="unknown")
        data_published = serializers.ChoiceField(choices=PUBLISHED_CHOICES, default="unknown")
        facts = _FactsInput(
            required=False,
            help_text="architecture facts of a model whose weights are not on this host (a GPU server's model), "
            "from its published config.json; they fill in or override what the weights give",
        )

    @extend_schema(
        operation_id="v1_models_list",
        responses={200: results(_ModelOutput)},
        summary="List registered models",
    )
    def get(self, request: Request) -> Response:
        return Response({"results": _ModelOutput(model_list(), many=True).data})

    @extend_schema(
        request=InputSerializer,
        responses={201: _ModelOutput, **errors(409)},
        summary="Register a model (its verdict is computed at once)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if RegisteredModel.objects.filter(served_name=data.validated_data["served_name"]).exists():
            return Response({"detail": "A model with this served name is registered."}, status=409)
        try:
            model = model_register(**data.validated_data, created_by=request.user, actor=actor_for(request))
        except RegistryError as exc:
            raise ValidationError({exc.field or "weights_path": [str(exc)]}) from exc
        return Response(_ModelOutput(model).data, status=201)


def _registered(model_id: int) -> RegisteredModel:
    model = RegisteredModel.objects.filter(pk=model_id).first()
    if model is None:
        raise NotFound("No such registered model.")
    return model


class ModelDetailApi(_AdminOnly):
    class UpdateSerializer(serializers.Serializer):
        licence_id = serializers.CharField(max_length=60, required=False)
        facts = _FactsInput(required=False)

    @extend_schema(responses={200: _ModelOutput, **errors(404)}, summary="A registered model and its verdict")
    def get(self, request: Request, model_id: int) -> Response:
        return Response(_ModelOutput(_registered(model_id)).data)

    @extend_schema(
        request=UpdateSerializer,
        responses={200: _ModelOutput, **errors(404)},
        summary="Change a model's licence or architecture facts (audited; the verdict is recomputed)",
    )
    def patch(self, request: Request, model_id: int) -> Response:
        model = _registered(model_id)
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            updated = model_update(
                model=model,
                licence_id=data.validated_data.get("licence_id"),
                facts=dict(data.validated_data.get("facts") or {}),
                actor=actor_for(request),
            )
        except RegistryError as exc:
            raise ValidationError({exc.field or "detail": [str(exc)]}) from exc
        return Response(_ModelOutput(updated).data)

    @extend_schema(
        request=None,
        responses={204: None, **errors(404)},
        summary="Remove a model from the registry (audited; the gate refuses it from then on)",
    )
    def delete(self, request: Request, model_id: int) -> Response:
        model_unregister(model=_registered(model_id), actor=actor_for(request))
        return Response(status=204)


class _DeclaredUseSerializer(serializers.Serializer):
    internal_commercial_use = serializers.BooleanField()
    fine_tune_or_distribute_derivatives = serializers.BooleanField()
    train_other_models_on_outputs = serializers.BooleanField()
    monthly_active_users = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
    sector = serializers.CharField(max_length=200, allow_blank=True)


class DeclaredUseApi(_AdminOnly):
    """The organisation's declared use of its models. Changing it recomputes every model's verdict."""

    @extend_schema(responses={200: _DeclaredUseSerializer}, summary="The declared use")
    def get(self, request: Request) -> Response:
        return Response(_DeclaredUseSerializer(asdict(declared_use_get())).data)

    @extend_schema(
        request=_DeclaredUseSerializer,
        responses={200: _DeclaredUseSerializer},
        summary="Declare the use (every verdict is recomputed and audited)",
    )
    def put(self, request: Request) -> Response:
        data = _DeclaredUseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        use = DeclaredUse(**data.validated_data)
        declared_use_set(use=use, updated_by=request.user, actor=actor_for(request))
        return Response(_DeclaredUseSerializer(asdict(use)).data)


class _FitOutput(serializers.Serializer):
    model = serializers.CharField()
    device = serializers.ChoiceField(choices=["gpu", "cpu"])
    quantization = serializers.CharField()
    context = serializers.IntegerField()  # type: ignore[assignment]  # DRF pops declared fields
    concurrency = serializers.IntegerField()
    tensor_parallel_size = serializers.IntegerField()
    weights_gib = serializers.FloatField()
    weights_gib_per_device = serializers.FloatField()
    kv_bytes_per_token = serializers.IntegerField()
    kv_bytes_per_token_per_device = serializers.IntegerField()
    kv_cache_gib = serializers.FloatField()
    kv_cache_gib_per_device = serializers.FloatField()
    overhead_gib_per_device = serializers.FloatField()
    needed_gib_per_device = serializers.FloatField()
    available_gib_per_device = serializers.FloatField()
    fits = serializers.BooleanField()
    max_context = serializers.IntegerField(help_text="the largest context that fits at this concurrency")
    max_concurrency = serializers.IntegerField(help_text="the largest concurrency that fits at this context")
    suggested_quantization = serializers.CharField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    vllm_command = serializers.CharField()
    compose_service = serializers.CharField(help_text="a docker-compose service, YAML")


# Far beyond any real decoder, small enough that the arithmetic stays exact in floats.
_FACT_BOUNDS = {
    "layers": 10_000,
    "hidden_size": 10**7,
    "heads": 100_000,
    "kv_heads": 100_000,
    "head_dim": 100_000,
    "max_context": 10**9,
    "params": 10**15,
}


def _checked(shape: ModelShape) -> ModelShape:
    """A config.json from the caller: every fact a positive, plausible number (a zero layer count or head_dim
    would divide by zero in the fit)."""
    for name, bound in _FACT_BOUNDS.items():
        value = getattr(shape, name)
        if not 1 <= value <= bound:
            raise FitError(f"not a decoder config.json: {name} {value} is not between 1 and {bound}")
    return shape


class ModelFitApi(_AdminOnly):
    """Will a model fit the GPUs (or CPU RAM) at a quantization, context and concurrency? Memory for weights,
    KV cache and runtime overhead per device, the largest context and concurrency that fit, a suggested
    quantization, and the `vllm serve` command and docker-compose service (docs/model-fit.md). Computes only:
    nothing is stored."""

    class InputSerializer(serializers.Serializer):
        model_id = serializers.IntegerField(
            required=False, min_value=1, max_value=2**63 - 1, help_text="a registered model"
        )
        preset = serializers.ChoiceField(
            choices=sorted(PRESETS), required=False, help_text="a well-known model's published config"
        )
        config = serializers.DictField(required=False, help_text="a model's config.json")
        quantization = serializers.ChoiceField(choices=sorted(QUANTIZATIONS))
        context = serializers.IntegerField(min_value=1, max_value=10_000_000)  # type: ignore[assignment]
        concurrency = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
        gpus_gib = serializers.ListField(
            child=serializers.FloatField(min_value=0.001, max_value=1_000_000),
            required=False,
            min_length=1,
            max_length=64,
            help_text="each GPU's memory in GiB",
        )
        cpu_ram_gib = serializers.FloatField(
            required=False, min_value=0.001, max_value=1_000_000, help_text="the CPU RAM for the server"
        )
        gpu_memory_utilization = serializers.FloatField(min_value=0.01, max_value=1.0, default=0.9)
        kv_cache_dtype = serializers.ChoiceField(choices=sorted(KV_CACHE_BYTES), default="auto")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            sources = [name for name in ("model_id", "preset", "config") if name in attrs]
            if len(sources) != 1:
                raise serializers.ValidationError("Give exactly one of model_id, preset or config.")
            if ("gpus_gib" in attrs) == ("cpu_ram_gib" in attrs):
                raise serializers.ValidationError("Give either gpus_gib or cpu_ram_gib.")
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={200: _FitOutput, **errors(404)},
        summary="Hardware fit of a model: memory, largest context and concurrency, the vllm serve command",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        served_name: str | None = None
        try:
            shape: ModelShape
            if "model_id" in values:
                registered = RegisteredModel.objects.filter(pk=values["model_id"]).first()
                if registered is None:
                    raise NotFound("No such registered model.")
                shape = shape_for(registered)
                served_name = registered.served_name
            elif "preset" in values:
                shape = preset_shape(values["preset"])
            else:
                try:
                    shape = _checked(shape_from_config(values["config"]))
                except OverflowError as exc:  # a JSON number such as 1e400 reads as infinity
                    raise FitError(f"not a decoder config.json: {exc}") from exc
            result = fit(
                shape,
                quantization=values["quantization"],
                context=values["context"],
                concurrency=values["concurrency"],
                gpus_gib=values.get("gpus_gib"),
                cpu_ram_gib=values.get("cpu_ram_gib"),
                gpu_memory_utilization=values["gpu_memory_utilization"],
                kv_cache_dtype=values["kv_cache_dtype"],
                served_name=served_name,
            )
        except FitError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(_FitOutput(asdict(result)).data)
