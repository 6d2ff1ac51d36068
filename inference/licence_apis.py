"""REST API of the licence catalogue (administrators): list, read, add, edit, reset a built-in licence to its
shipped text, delete an added one. Thin views over inference.registry; each change is audited and recomputes
the verdict of every model under the licence."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from config.schema import errors, results
from governance.audit import actor_for
from inference.apis import _AdminOnly
from inference.licence_data import licence_from_dict, licence_to_dict
from inference.licences import CATALOGUE, PERMISSIONS, Licence, verdict
from inference.models import RegisteredModel
from inference.registry import (
    RegistryError,
    declared_use_get,
    licence_catalogue,
    licence_delete,
    licence_get,
    licence_modified,
    licence_reset,
    licence_store,
)


class _TermSerializer(serializers.Serializer):
    permission = serializers.ChoiceField(choices=PERMISSIONS)
    condition = serializers.CharField(allow_blank=True, default="", max_length=2000)


class _ThresholdSerializer(serializers.Serializer):
    monthly_active_users = serializers.IntegerField(min_value=0, max_value=10**12)
    commercial_use_only = serializers.BooleanField()
    text = serializers.CharField(max_length=2000)


class _SourceSerializer(serializers.Serializer):
    fact = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500)


class LicenceInput(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    commercial_use = _TermSerializer()
    derivatives = _TermSerializer()
    outputs_to_train_other_models = _TermSerializer()
    sources = _SourceSerializer(many=True, allow_empty=False)
    user_threshold = _ThresholdSerializer(allow_null=True, required=False, default=None)
    acceptable_use_policy = serializers.CharField(max_length=500, allow_blank=True, default="")
    attribution = serializers.CharField(max_length=300, allow_blank=True, default="")
    derivative_name_prefix = serializers.CharField(max_length=100, allow_blank=True, default="")
    notices = serializers.ListField(child=serializers.CharField(max_length=2000), default=list)


class LicenceCreateInput(LicenceInput):
    id = serializers.RegexField(
        r"^[a-z0-9][a-z0-9._-]*$",
        max_length=60,
        help_text="lower-case letters, digits, dots, hyphens, underscores",
    )


class _VerdictSerializer(serializers.Serializer):
    status = serializers.CharField()
    conditions = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField())


class LicenceOutput(LicenceCreateInput):
    builtin = serializers.BooleanField(help_text="shipped with Emanet")
    modified = serializers.BooleanField(help_text="a built-in licence edited since it shipped")
    models = serializers.ListField(child=serializers.CharField(), help_text="registered models under it")
    verdict = _VerdictSerializer(help_text="its verdict for the declared use")


def _licence_from(data: dict[str, Any], key: str) -> Licence:
    try:
        return licence_from_dict({**data, "id": key})
    except ValueError as exc:
        raise ValidationError({"detail": str(exc)}) from exc


def licence_data(licence: Licence) -> dict[str, Any]:
    answer = verdict(licence, declared_use_get())
    models = RegisteredModel.objects.filter(licence_id=licence.id).order_by("served_name")
    return {
        **licence_to_dict(licence),
        "builtin": licence.id in CATALOGUE,
        "modified": licence_modified(licence.id),
        "models": list(models.values_list("served_name", flat=True)),
        "verdict": {"status": answer.status, "conditions": answer.conditions, "reasons": answer.reasons},
    }


def _existing(key: str) -> Licence:
    licence = licence_get(key)
    if licence is None:
        raise NotFound("No such licence in the catalogue.")
    return licence


class LicenceListCreateApi(_AdminOnly):
    """The licence catalogue in force: the built-in licences as the organisation has edited them, and those it
    added; each with its three axes, conditions, sources and the verdict for the declared use."""

    @extend_schema(
        operation_id="v1_licences_list", responses={200: results(LicenceOutput)}, summary="List licences"
    )
    def get(self, request: Request) -> Response:
        items = [licence_data(lic) for _, lic in sorted(licence_catalogue().items())]
        return Response({"results": items})

    @extend_schema(
        request=LicenceCreateInput,
        responses={201: LicenceOutput, **errors(409)},
        summary="Add a licence to the catalogue (audited)",
    )
    def post(self, request: Request) -> Response:
        data = LicenceCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        licence = _licence_from(dict(data.validated_data), data.validated_data["id"])
        if licence_get(licence.id) is not None:
            return Response({"detail": "A licence with this id is in the catalogue."}, status=409)
        licence_store(licence=licence, create=True, updated_by=request.user, actor=actor_for(request))
        return Response(licence_data(licence), status=201)


class LicenceDetailApi(_AdminOnly):
    @extend_schema(responses={200: LicenceOutput, **errors(404)}, summary="A licence of the catalogue")
    def get(self, request: Request, key: str) -> Response:
        return Response(licence_data(_existing(key)))

    @extend_schema(
        request=LicenceInput,
        responses={200: LicenceOutput, **errors(404)},
        summary="Edit a licence (audited; recomputes the verdict of every model under it)",
    )
    def put(self, request: Request, key: str) -> Response:
        _existing(key)
        data = LicenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        licence = _licence_from(dict(data.validated_data), key)
        licence_store(licence=licence, updated_by=request.user, actor=actor_for(request))
        return Response(licence_data(licence))

    @extend_schema(
        request=None,
        responses={204: None, **errors(404, 409)},
        summary="Delete a licence the organisation added (not a built-in one, not one a model is under)",
    )
    def delete(self, request: Request, key: str) -> Response:
        _existing(key)
        try:
            licence_delete(key=key, actor=actor_for(request))
        except RegistryError as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(status=204)


class LicenceResetApi(_AdminOnly):
    @extend_schema(
        request=None,
        responses={200: LicenceOutput, **errors(404, 409)},
        summary="Put a built-in licence back to the text shipped with Emanet (audited)",
    )
    def post(self, request: Request, key: str) -> Response:
        _existing(key)
        try:
            licence_reset(key=key, updated_by=request.user, actor=actor_for(request))
        except RegistryError as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(licence_data(_existing(key)))
