"""Compliance over the API: records of processing, data-subject requests, retention. Thin views.

Subject requests and retention are for compliance officers only; a collection's inventory entry is read by
whoever may read the collection and changed by its owner, an administrator or a compliance officer."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import errors, results
from governance.access import can_edit_inventory
from governance.apikeys import ApiKeyActionAllowed
from governance.audit import actor_for, audit_record
from governance.compliance.inventory import inventory_csv, inventory_rows
from governance.compliance.retention import retention_preview, retention_run
from governance.compliance.subjects import (
    IDENTIFIERS,
    SubjectRequestError,
    export_as_read_by,
    is_overdue,
    overdue_q,
    subject_request_approve,
    subject_request_create,
    subject_request_reject,
    subject_request_retry,
)
from governance.inventory import (
    InventoryError,
    inventory_data,
    inventory_entry,
    inventory_set,
)
from governance.models import DestructionRecord, SubjectRequest
from governance.permissions import IsComplianceOfficer
from governance.roles import is_admin, is_compliance_officer
from rag.selectors import inventory_collection


def _collection_for_inventory(user: Any, collection_id: int, *, write: bool) -> Any:
    collection = inventory_collection(user, collection_id)
    if collection is None:
        raise NotFound("No such collection, or you may not read it.")
    if write and not can_edit_inventory(user, collection):
        raise PermissionDenied(
            "Only the collection's owner, an administrator or a compliance officer may change it."
        )
    return collection


class InventoryInput(serializers.Serializer):
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    legal_basis = serializers.CharField(required=False, allow_blank=True)
    data_subject_categories = serializers.ListField(child=serializers.CharField(), required=False)
    data_categories = serializers.ListField(child=serializers.CharField(), required=False)
    recipients = serializers.ListField(child=serializers.CharField(), required=False)
    retention_days = serializers.IntegerField(required=False, allow_null=True)
    special_categories = serializers.BooleanField(required=False)
    erasure_scope = serializers.CharField(required=False)


class CollectionInventoryApi(APIView):
    """A collection's entry in the records of processing. PUT changes only the fields given."""

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A collection's records-of-processing entry")
    def get(self, request: Request, collection_id: int) -> Response:
        _collection_for_inventory(request.user, collection_id, write=False)
        return Response({"collection": collection_id, **inventory_data(inventory_entry(collection_id))})

    @extend_schema(
        request=InventoryInput,
        responses=OpenApiTypes.OBJECT,
        summary="Set a collection's records-of-processing entry",
    )
    def put(self, request: Request, collection_id: int) -> Response:
        _collection_for_inventory(request.user, collection_id, write=True)
        if not isinstance(request.data, dict):
            raise ValidationError({"detail": "a JSON object"})
        try:
            entry = inventory_set(
                collection_id=collection_id,
                data=dict(request.data),
                actor=actor_for(request),
                user=request.user,
            )
        except InventoryError as exc:
            raise ValidationError(exc.errors) from exc
        return Response({"collection": collection_id, **inventory_data(entry)})


class InventoryExportApi(APIView):
    """The whole records of processing (every collection), as JSON or CSV: compliance officers and
    administrators."""

    class Query(serializers.Serializer):
        type = serializers.ChoiceField(choices=["json", "csv"], required=False, default="json")

    @extend_schema(
        parameters=[Query],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR},
        summary="Export the inventory",
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if not (is_compliance_officer(request.user) or is_admin(request.user)):
            raise PermissionDenied("Only compliance officers and administrators export the inventory.")
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        kind = query.validated_data["type"]
        rows = inventory_rows()
        audit_record(
            action="inventory.export", actor=actor_for(request), details={"type": kind, "rows": len(rows)}
        )
        if kind == "csv":
            response = HttpResponse(inventory_csv(rows), content_type="text/csv; charset=utf-8")
        else:
            response = HttpResponse(
                json.dumps({"collections": rows}, ensure_ascii=False, indent=2),
                content_type="application/json",
            )
        response["Content-Disposition"] = f'attachment; filename="emanet-inventory.{kind}"'
        return response


def request_data(request: SubjectRequest, *, full: bool, reader: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": request.pk,
        "kind": request.kind,
        "status": request.status,
        "due_at": request.due_at.isoformat(),
        "overdue": is_overdue(request),
        "identifier_types": request.identifier_types,
        "subject": request.subject_refs,
        "note": request.note,
        "include_special": request.include_special,
        "requested_by": request.requested_by.get_username() if request.requested_by else None,
        "approved_by": request.approved_by.get_username() if request.approved_by else None,
        "created_at": request.created_at.isoformat(),
        "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        "error": request.error,
    }
    if full:
        key = "export" if request.kind == SubjectRequest.Kind.ACCESS else "receipt"
        result = request.result or None
        if result and request.kind == SubjectRequest.Kind.ACCESS:
            result = export_as_read_by(result, request=request, reader=reader)
        data[key] = result
    return data


class SubjectRequestListCreateApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=SubjectRequest.Kind.values)
        identifiers = serializers.DictField(help_text=f"any of: {', '.join(IDENTIFIERS)} (a value or a list)")
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
        include_special = serializers.BooleanField(
            required=False,
            default=False,
            help_text="access: also special-category passages of collections where you hold no special grant; "
            "the request then waits for a second compliance officer's approval",
        )

    class Query(serializers.Serializer):
        status = serializers.ChoiceField(choices=SubjectRequest.Status.values, required=False)
        overdue = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        parameters=[Query], responses=OpenApiTypes.OBJECT, summary="Data-subject requests, newest first"
    )
    def get(self, request: Request) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        requests = SubjectRequest.objects.select_related("requested_by", "approved_by")
        if query.validated_data.get("status"):
            requests = requests.filter(status=query.validated_data["status"])
        if query.validated_data["overdue"]:
            requests = requests.filter(overdue_q())
        return Response({"results": [request_data(r, full=False) for r in requests[:500]]})

    @extend_schema(
        request=InputSerializer,
        responses={201: OpenApiTypes.OBJECT},
        summary="Open a data-subject request (access or erasure)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = subject_request_create(
                kind=data.validated_data["kind"],
                identifiers=data.validated_data["identifiers"],
                note=data.validated_data["note"],
                include_special=data.validated_data["include_special"],
                user=request.user,
                actor=actor_for(request),
            )
        except SubjectRequestError as exc:
            raise ValidationError(exc.errors) from exc
        return Response(
            {"id": created.pk, "status": created.status, "due_at": created.due_at.isoformat()},
            status=status.HTTP_201_CREATED,
        )


def _request_or_404(request_id: int) -> SubjectRequest:
    found = SubjectRequest.objects.select_related("requested_by", "approved_by").filter(pk=request_id).first()
    if found is None:
        raise NotFound("No such request.")
    return found


class SubjectRequestDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    @extend_schema(
        operation_id="v1_subject_request_retrieve",
        responses=OpenApiTypes.OBJECT,
        summary="A data-subject request: status and the export or the erasure receipt",
    )
    def get(self, request: Request, request_id: int) -> Response:
        found = _request_or_404(request_id)
        if found.result:
            audit_record(
                action="subject_request.view",
                actor=actor_for(request),
                target_type="subject_request",
                target_id=found.pk,
                details={"kind": found.kind},
            )
        return Response(request_data(found, full=True, reader=request.user))


class SubjectRequestActionApi(APIView):
    """approve (a second officer, for an erasure), reject, or retry a failed request."""

    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        operation_id="v1_subject_request_action",
        parameters=[
            OpenApiParameter("action", str, OpenApiParameter.PATH, enum=["approve", "reject", "retry"])
        ],
        request=InputSerializer,
        responses={200: OpenApiTypes.OBJECT, **errors(409)},
        summary="Approve, reject or retry a data-subject request",
    )
    def post(self, request: Request, request_id: int, action: str) -> Response:
        found = _request_or_404(request_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actor = actor_for(request)
        try:
            if action == "approve":
                found = subject_request_approve(request=found, user=request.user, actor=actor)
            elif action == "reject":
                found = subject_request_reject(
                    request=found, user=request.user, actor=actor, reason=data.validated_data["reason"]
                )
            elif action == "retry":
                found = subject_request_retry(request=found, user=request.user, actor=actor)
            else:
                raise NotFound("Unknown action; approve, reject or retry.")
        except SubjectRequestError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(request_data(_request_or_404(found.pk), full=False))


class RetentionPreviewApi(APIView):
    """The dry run: what the next retention run destroys."""

    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Documents the next retention run will destroy")
    def get(self, request: Request) -> Response:
        return Response(
            {"results": retention_preview(), "conversations": retention_run(dry_run=True).conversations}
        )


class RetentionRunApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    @extend_schema(
        request=None, responses={200: OpenApiTypes.OBJECT, **errors(409)}, summary="Run the retention job now"
    )
    def post(self, request: Request) -> Response:
        run = retention_run(actor=actor_for(request))
        if run.already_running:
            return Response({"detail": "A retention run is in progress."}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "run_id": run.run_id,
                "destroyed": run.documents,
                "chunks": run.chunks,
                "conversations": run.conversations,
            }
        )


class DestructionRecordListApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    class Output(serializers.ModelSerializer):
        class Meta:
            model = DestructionRecord
            exclude = ["id"]

    @extend_schema(
        operation_id="v1_retention_records_list",
        responses=results(Output),
        summary="Destruction records, newest first",
    )
    def get(self, request: Request) -> Response:
        return Response({"results": self.Output(DestructionRecord.objects.all()[:1000], many=True).data})
