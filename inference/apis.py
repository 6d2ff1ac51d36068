"""REST API of the model registry (administrators): registered models with their licence verdicts, and the
organisation's declared use. Thin views over inference.registry."""

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
from inference.licences import DeclaredUse
from inference.models import PUBLISHED_CHOICES, RegisteredModel
from inference.registry import (
    RegistryError,
    declared_use_get,
    declared_use_set,
    model_list,
    model_register,
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
    quantization = serializers.CharField()
    weights_path = serializers.CharField()
    weights_manifest = serializers.DictField(child=serializers.CharField())
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


class ModelDetailApi(_AdminOnly):
    @extend_schema(responses={200: _ModelOutput, **errors(404)}, summary="A registered model and its verdict")
    def get(self, request: Request, model_id: int) -> Response:
        model = RegisteredModel.objects.filter(pk=model_id).first()
        if model is None:
            raise NotFound("No such registered model.")
        return Response(_ModelOutput(model).data)


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
