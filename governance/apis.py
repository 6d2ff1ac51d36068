"""REST API of the governance layer: PII analysis, collections' redaction policies and grants, API keys and
personal tokens. Thin views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from config.schema import errors, results
from governance.access import can_manage
from governance.apikeys import ApiKeyRefused, api_key_create, api_key_revoke
from governance.audit import actor_for
from governance.grants import GrantError, grant_create, grant_revoke
from governance.models import ApiKey, CollectionGrant, PersonalToken
from governance.pii import engine
from governance.pii.policies import policy_for_collection
from governance.pii.redaction import ENTITY_TYPES, Action, Policy, Redactor
from governance.roles import is_admin
from governance.tokens import TokenError, personal_token_create, personal_token_revoke, personal_tokens_of
from rag.models import Collection
from rag.selectors import readable_collections
from rag.services.collections import redaction_policy_set


def _readable_collection_id(user: Any, collection_id: int) -> int:
    if not readable_collections(user).filter(pk=collection_id).exists():
        raise NotFound("No such collection, or you may not read it.")
    return collection_id


class _EntityOutput(serializers.Serializer):
    type = serializers.CharField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    score = serializers.FloatField()
    action = serializers.CharField(help_text="what the policy does with it: keep | mask | hash | drop")


class PiiAnalyzeApi(APIView):
    """Find personal data in a text and show it redacted — under a collection's policy when one is given
    (the portal's redaction preview), else under the strict default. Nothing is stored or logged raw."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "pii_analyze"

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(
            max_length=settings.PII_ANALYZE_MAX_CHARS, trim_whitespace=False, allow_blank=True
        )
        language = serializers.ChoiceField(choices=["tr", "en"], required=False)
        collection = serializers.IntegerField(required=False, help_text="preview this collection's policy")

    class OutputSerializer(serializers.Serializer):
        entities = _EntityOutput(many=True)
        redacted_text = serializers.CharField()
        policy = serializers.DictField(child=serializers.CharField())

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(404)},
        summary="Find and redact personal data",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        text = data.validated_data["text"]
        language = data.validated_data.get("language")
        policy = Policy.strict()
        if "collection" in data.validated_data:
            policy = policy_for_collection(
                _readable_collection_id(request.user, data.validated_data["collection"])
            )
        findings = engine.analyze(text, language=language)
        redacted = Redactor(policy=policy, language=language, reveal_pseudonyms=False).redact(text)
        return Response(
            {
                "entities": [
                    {
                        "type": f.entity_type,
                        "start": f.start,
                        "end": f.end,
                        "score": f.score,
                        "action": str(policy.action(f.entity_type)),
                    }
                    for f in findings
                ],
                "redacted_text": redacted,
                "policy": policy.rules(),
            }
        )


class RedactionPolicyApi(APIView):
    """A collection's redaction policy: readers may see it, administrators change it. A change
    re-ingests the collection's documents under the new policy."""

    class InputSerializer(serializers.Serializer):
        rules = serializers.DictField(
            child=serializers.ChoiceField(choices=[a.value for a in Action]),
            help_text="entity type → keep | mask | hash | drop; types left out: mask",
        )

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A collection's redaction policy")
    def get(self, request: Request, collection_id: int) -> Response:
        policy = policy_for_collection(_readable_collection_id(request.user, collection_id))
        return Response({"collection": collection_id, "rules": policy.rules(), "entity_types": ENTITY_TYPES})

    @extend_schema(
        request=InputSerializer,
        responses=OpenApiTypes.OBJECT,
        summary="Change a collection's redaction policy (administrators)",
    )
    def put(self, request: Request, collection_id: int) -> Response:
        _readable_collection_id(request.user, collection_id)
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators may change a redaction policy.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            policy, queued = redaction_policy_set(
                collection_id=collection_id,
                rules=data.validated_data["rules"],
                user=request.user,
                actor=actor_for(request),
            )
        except ValueError as exc:
            raise ValidationError({"rules": [str(exc)]}) from exc
        return Response({"collection": collection_id, "rules": policy.rules(), "documents_requeued": queued})


def _managed_collection(user: Any, collection_id: int) -> Any:
    """The collection, if the caller may manage its grants (owner or administrator). 404 when they may not
    even know it exists, 403 when they can read it but not manage it."""
    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is not None and can_manage(user, collection):
        return collection
    if collection is not None and readable_collections(user).filter(pk=collection_id).exists():
        raise PermissionDenied("Only the collection's owner or an administrator may manage its access.")
    raise NotFound("No such collection, or you may not read it.")


class _GrantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user = serializers.CharField(source="user.username", allow_null=True, default=None)
    group = serializers.CharField(source="group.name", allow_null=True, default=None)
    permission = serializers.CharField()
    granted_by = serializers.CharField(source="granted_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class GrantListCreateApi(APIView):
    """Who may read (and separately upload to) a collection, besides its owner."""

    class InputSerializer(serializers.Serializer):
        user = serializers.CharField(required=False, help_text="username")
        group = serializers.CharField(required=False, help_text="group name")
        permission = serializers.ChoiceField(choices=["read", "upload"])

    @extend_schema(
        operation_id="v1_collections_grants_list",
        responses=results(_GrantOutput),
        summary="List a collection's grants",
    )
    def get(self, request: Request, collection_id: int) -> Response:
        _managed_collection(request.user, collection_id)
        grants = CollectionGrant.objects.filter(collection_id=collection_id).select_related(
            "user", "group", "granted_by"
        )
        return Response({"results": _GrantOutput(grants.order_by("id"), many=True).data})

    @extend_schema(request=InputSerializer, responses={201: _GrantOutput}, summary="Grant read or upload")
    def post(self, request: Request, collection_id: int) -> Response:
        _managed_collection(request.user, collection_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            grant = grant_create(
                collection_id=collection_id,
                permission=data.validated_data["permission"],
                username=data.validated_data.get("user"),
                group_name=data.validated_data.get("group"),
                actor=actor_for(request),
                granted_by=request.user,
            )
        except GrantError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(_GrantOutput(grant).data, status=201)


class GrantDetailApi(APIView):
    @extend_schema(responses={204: None}, summary="Revoke a grant (effective on the next request)")
    def delete(self, request: Request, collection_id: int, grant_id: int) -> Response:
        _managed_collection(request.user, collection_id)
        grant = CollectionGrant.objects.filter(pk=grant_id, collection_id=collection_id).first()
        if grant is None:
            raise NotFound("No such grant on this collection.")
        grant_revoke(grant=grant, actor=actor_for(request))
        return Response(status=204)


class _ApiKeyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    actions = serializers.ListField(child=serializers.CharField())
    collections = serializers.SerializerMethodField()
    rate = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_collections(self, key: Any) -> list[int]:
        return sorted(key.collections.values_list("pk", flat=True))


class _AdminOnly(APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not is_admin(request.user):
            raise PermissionDenied("Only administrators manage API keys.")


class ApiKeyListCreateApi(_AdminOnly):
    """API keys for internal systems (administrators). The secret is in the creation response only."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        collections = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
        actions = serializers.ListField(child=serializers.ChoiceField(choices=["search", "ask", "upload"]))
        expires_at = serializers.DateTimeField(required=False, allow_null=True)
        rate = serializers.RegexField(r"^\d+/(s|sec|m|min|h|hour|d|day)$", required=False, default="120/min")

    @extend_schema(operation_id="v1_api_keys_list", responses=results(_ApiKeyOutput), summary="List API keys")
    def get(self, request: Request) -> Response:
        keys = ApiKey.objects.prefetch_related("collections").order_by("name")
        return Response({"results": _ApiKeyOutput(keys, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: _ApiKeyOutput}, summary="Create an API key")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = sorted(set(data.validated_data["collections"]))
        if Collection.objects.filter(pk__in=ids).count() != len(set(ids)):
            raise ValidationError({"collections": ["Unknown collection id."]})
        if ApiKey.objects.filter(name=data.validated_data["name"]).exists():
            raise ValidationError({"name": ["An API key with this name exists."]})
        try:
            key, secret = api_key_create(
                name=data.validated_data["name"],
                collection_ids=ids,
                actions=data.validated_data["actions"],
                expires_at=data.validated_data.get("expires_at"),
                rate=data.validated_data["rate"],
                created_by=request.user,
                actor=actor_for(request),
            )
        except ApiKeyRefused as exc:
            raise PermissionDenied(f"{exc} Refused: collections {exc.collections}.") from exc
        return Response({**_ApiKeyOutput(key).data, "key": secret}, status=201)


class ApiKeyDetailApi(_AdminOnly):
    @extend_schema(responses={204: None}, summary="Revoke an API key (effective on the next request)")
    def delete(self, request: Request, key_id: int) -> Response:
        key = ApiKey.objects.filter(pk=key_id).first()
        if key is None:
            raise NotFound("No such API key.")
        api_key_revoke(key=key, actor=actor_for(request))
        return Response(status=204)


class _TokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="the token's visible start: et_<prefix>_…")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class _TokenCreated(_TokenOutput):
    token = serializers.CharField(help_text="the secret, shown this once: Authorization: Token <token>")


class TokenListCreateApi(APIView):
    """The signed-in user's own personal tokens. The secret is in the creation response only; nobody can
    read it back. A token cannot make another token (a stolen one could otherwise outlive its expiry):
    create them from a signed-in session or with ``manage.py drf_create_token``."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        days = serializers.IntegerField(
            required=False, min_value=1, max_value=3650, help_text="lifetime; default PERSONAL_TOKEN_DAYS"
        )

    @extend_schema(
        operation_id="v1_tokens_list", responses=results(_TokenOutput), summary="List my personal tokens"
    )
    def get(self, request: Request) -> Response:
        return Response({"results": _TokenOutput(personal_tokens_of(request.user), many=True).data})

    @extend_schema(
        request=InputSerializer,
        responses={201: _TokenCreated, **errors(403)},
        summary="Create a personal token",
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, PersonalToken):
            raise PermissionDenied(
                "A token cannot create tokens: sign in, or use manage.py drf_create_token."
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token, secret = personal_token_create(
                user=request.user,
                name=data.validated_data["name"],
                days=data.validated_data.get("days"),
                actor=actor_for(request),
            )
        except TokenError as exc:
            raise PermissionDenied(str(exc)) from exc
        return Response({**_TokenOutput(token).data, "token": secret}, status=201)


class TokenDetailApi(APIView):
    @extend_schema(
        responses={204: None, **errors(404)},
        summary="Revoke a personal token (its owner or an administrator)",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        token = PersonalToken.objects.filter(pk=token_id).first()
        if token is None or not (token.user_id == request.user.pk or is_admin(request.user)):
            raise NotFound("No such token.")
        personal_token_revoke(token=token, actor=actor_for(request), by=request.user)
        return Response(status=204)
