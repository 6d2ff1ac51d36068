"""REST API v1: thin views. Validate, call a service or selector, serialize."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.health import health_report
from config.schema import errors, results
from governance.audit import actor_for, audit_record
from governance.inventory import InventoryError, InventoryIncomplete, entry_of, inventory_data
from rag import selectors, storage
from rag.language import normalise_language
from rag.models import Collection, Document
from rag.selectors import can_write
from rag.services.collections import CollectionNameTaken, collection_create
from rag.services.deletion import document_delete
from rag.services.documents import document_create
from rag.services.search import search


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "payload_too_large"


class InventoryRequired(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The collection has no complete records-of-processing entry."
    default_code = "inventory_incomplete"


class CollectionOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    inventory = serializers.SerializerMethodField()

    class Meta:
        model = Collection
        fields = ["id", "name", "description", "owner", "created_at", "inventory"]

    def get_inventory(self, collection: Collection) -> dict[str, Any]:
        record = getattr(collection, "processing", None) if _has_processing(collection) else None
        return inventory_data(entry_of(record))


def _has_processing(collection: Collection) -> bool:
    try:
        collection.processing  # noqa: B018 — a reverse one-to-one raises when there is none
    except ObjectDoesNotExist:
        return False
    return True


class CollectionListCreateApi(APIView):
    api_key_actions = {"GET": "any"}  # a key lists the collections in its scope

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        inventory = serializers.DictField(
            required=False,
            help_text="records-of-processing entry: purpose, legal_basis, data_subject_categories, "
            "data_categories, recipients, retention_days, special_categories (erasure_scope optional)",
        )

    @extend_schema(operation_id="v1_collections_list", responses=results(CollectionOutput))
    def get(self, request: Request) -> Response:
        collections = selectors.collection_list(user=request.user).select_related("owner", "processing")
        return Response({"results": CollectionOutput(collections, many=True).data})

    @extend_schema(request=InputSerializer, responses={201: CollectionOutput})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            collection = collection_create(
                owner=request.user, actor=actor_for(request), **data.validated_data
            )
        except CollectionNameTaken as exc:
            raise ValidationError({"name": [str(exc)]}) from exc
        except InventoryError as exc:
            raise ValidationError({"inventory": exc.errors}) from exc
        return Response(CollectionOutput(collection).data, status=status.HTTP_201_CREATED)


class DocumentOutput(serializers.ModelSerializer):
    collection = serializers.IntegerField(source="collection_id")
    # From rag.selectors.document_list: hidden when they name a special category and the reader may not see it.
    title = serializers.CharField(source="shown_title")
    original_filename = serializers.CharField(source="shown_filename")
    collection_name = serializers.CharField(source="collection.name")

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "collection",
            "collection_name",
            "original_filename",
            "mime_type",
            "sha256",
            "size_bytes",
            "language",
            "language_detected",
            "status",
            "error",
            "chunk_count",
            "page_count",
            "created_at",
            "updated_at",
            "ingested_at",
        ]


class DocumentListCreateApi(APIView):
    api_key_actions = {"GET": "search", "POST": "upload"}
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)
        collection = serializers.CharField(help_text="Collection id or name")
        title = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
        language = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="ISO 639-1 code; detected when omitted"
        )
        special_category = serializers.BooleanField(
            required=False, default=False, help_text="the file holds special-category data (KVKK Art. 6)"
        )

        def validate_language(self, value: str) -> str:
            if not value:
                return ""
            try:
                return normalise_language(value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from exc

    class CreatedOutput(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        duplicate = serializers.BooleanField()

    class Query(serializers.Serializer):
        collection = serializers.CharField(
            required=False, allow_blank=True, max_length=200, help_text="Collection id or name"
        )

    @extend_schema(
        operation_id="v1_documents_list",
        parameters=[Query],
        responses={200: results(DocumentOutput), **errors(404)},
    )
    def get(self, request: Request) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        ref = query.validated_data.get("collection")
        collection = selectors.collection_get(user=request.user, ref=ref) if ref else None
        documents = selectors.document_list(user=request.user, collection=collection)[:1000]
        return Response({"results": DocumentOutput(documents, many=True).data})

    @extend_schema(
        request=InputSerializer,
        responses={202: CreatedOutput, 200: CreatedOutput, **errors(404, 409, 413)},
    )
    def post(self, request: Request) -> Response:
        limit = settings.MAX_UPLOAD_MB * 1024 * 1024
        # Refuse before reading the body when the client announces a body that is too large.
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 64 * 1024:
            raise PayloadTooLarge(f"The file is larger than the {settings.MAX_UPLOAD_MB} MB upload limit.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        collection = selectors.collection_get(
            user=request.user, ref=data.validated_data["collection"], for_upload=True
        )
        if not can_write(request.user, collection):
            raise PermissionDenied("You may read this collection but not add documents to it.")
        upload = data.validated_data["file"]
        try:
            document, created = document_create(
                actor=actor_for(request),
                collection=collection,
                uploaded_by=request.user,
                stream=upload,
                filename=upload.name,
                title=data.validated_data["title"],
                language=data.validated_data["language"],
                special_declared=data.validated_data["special_category"],
            )
        except storage.UploadTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from exc
        except InventoryIncomplete as exc:
            raise InventoryRequired(str(exc)) from exc
        body = {"id": document.pk, "status": document.status, "duplicate": not created}
        return Response(body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class DocumentDetailApi(APIView):
    api_key_actions = {"GET": "search", "DELETE": "upload"}

    @extend_schema(responses=DocumentOutput)
    def get(self, request: Request, document_id: int) -> Response:
        document = selectors.document_get(user=request.user, document_id=document_id)
        audit_record(
            action="document.view",
            actor=actor_for(request),
            target_type="document",
            target_id=document.pk,
            collection_id=document.collection_id,
        )
        return Response(DocumentOutput(document).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, document_id: int) -> Response:
        document = selectors.document_get(user=request.user, document_id=document_id)
        if not can_write(request.user, document.collection):
            raise PermissionDenied("You may read this collection but not delete its documents.")
        document_delete(document=document, actor=actor_for(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SearchApi(APIView):
    api_key_actions = {"POST": "search"}

    class InputSerializer(serializers.Serializer):
        query = serializers.CharField(max_length=2000)
        collections = serializers.ListField(
            child=serializers.CharField(), required=False, allow_empty=False, help_text="Ids or names"
        )
        k = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)

    class HitOutput(serializers.Serializer):
        chunk_id = serializers.IntegerField()
        document_id = serializers.IntegerField()
        collection_id = serializers.IntegerField()
        title = serializers.CharField()
        page = serializers.IntegerField(allow_null=True)
        section = serializers.CharField()
        text = serializers.CharField()
        score = serializers.FloatField()
        vector_rank = serializers.IntegerField(allow_null=True)
        text_rank = serializers.IntegerField(allow_null=True)
        similarity = serializers.FloatField(allow_null=True)

    @extend_schema(request=InputSerializer, responses={200: results(HitOutput), **errors(404)})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refs = data.validated_data.get("collections")
        collection_ids = (
            [selectors.collection_get(user=request.user, ref=ref).pk for ref in refs] if refs else None
        )
        hits = search(
            user=request.user,
            query=data.validated_data["query"],
            k=data.validated_data["k"],
            collection_ids=collection_ids,
            actor=actor_for(request),
        )
        return Response({"results": self.HitOutput(hits, many=True).data})


class HealthApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request: Request) -> Response:
        report = health_report()
        if not (request.user and request.user.is_authenticated):
            # Anonymous probes (load balancers) learn up/down only, not versions or error details.
            report["components"] = {name: {"status": c["status"]} for name, c in report["components"].items()}
        code = status.HTTP_200_OK if report["status"] == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(report, status=code)
