"""The audit trail over the API: compliance officers only (administrators included only if they are also in
the "Compliance officers" group). Reading, verifying and exporting are themselves audited."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.apikeys import ApiKeyActionAllowed
from governance.audit import FIELDS, actor_for, audit_export, audit_record, audit_verify
from governance.audit.selectors import FILTERS, BadFilter, audit_events, read_details
from governance.models import AuditEvent
from governance.permissions import IsComplianceOfficer


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [*FIELDS, "prev_hash", "hash"]


class AuditEventListApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    @extend_schema(
        parameters=[OpenApiParameter(name, str) for name in FILTERS]
        + [OpenApiParameter("limit", int), OpenApiParameter("before_seq", int)],
        responses=AuditEventOutput(many=True),
        summary="Audit events, newest first",
    )
    def get(self, request: Request) -> Response:
        try:
            events = audit_events(request.query_params)
            limit = min(int(request.query_params.get("limit", 100)), 1000)
            if limit < 1:
                raise ValueError("limit must be at least 1.")
            if request.query_params.get("before_seq"):
                events = events.filter(seq__lt=int(request.query_params["before_seq"]))
        except (BadFilter, ValueError) as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        page = list(events[:limit])
        audit_record(
            action="audit.read",
            actor=actor_for(request),
            details=read_details(request.query_params, count=len(page), via="api"),
        )
        return Response(
            {
                "results": AuditEventOutput(page, many=True).data,
                "next_before_seq": page[-1].seq if len(page) == limit else None,
            }
        )


class AuditVerifyApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    @extend_schema(summary="Recompute the hash chain; OK or the first broken row")
    def get(self, request: Request) -> Response:
        result = audit_verify()
        audit_record(
            action="audit.verify",
            actor=actor_for(request),
            outcome="ok" if result.ok else "failed",
            details={"rows": result.rows, "broken_seq": result.broken_seq},
        )
        return Response(result.as_dict())


class AuditExportApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    @extend_schema(
        parameters=[
            # Not "format": DRF reads that one for content negotiation.
            OpenApiParameter("type", str, enum=["json", "csv"]),
            OpenApiParameter("first_seq", int),
            OpenApiParameter("last_seq", int),
        ],
        summary="Export a contiguous stretch with a manifest (verify offline: manage.py audit_verify --file)",
    )
    def get(self, request: Request) -> HttpResponse:
        try:
            first = int(request.query_params["first_seq"]) if request.query_params.get("first_seq") else None
            last = int(request.query_params["last_seq"]) if request.query_params.get("last_seq") else None
        except ValueError as exc:
            raise ValidationError({"detail": "first_seq and last_seq are row numbers."}) from exc
        kind = request.query_params.get("type", "json")
        export = audit_export(first_seq=first, last_seq=last)
        audit_record(
            action="audit.export", actor=actor_for(request), details={**export["manifest"], "format": kind}
        )
        if kind == "csv":
            return _csv_response(export)
        response = HttpResponse(
            json.dumps(export, ensure_ascii=False, indent=1), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="emanet-audit.json"'
        return response


def _csv_response(export: dict[str, Any]) -> HttpResponse:
    buffer = io.StringIO()
    buffer.write("# manifest: " + json.dumps(export["manifest"], ensure_ascii=False) + "\n")
    writer = csv.DictWriter(buffer, fieldnames=[*FIELDS, "prev_hash", "hash"])
    writer.writeheader()
    for row in export["events"]:
        writer.writerow({**row, "details": json.dumps(row["details"], sort_keys=True, ensure_ascii=False)})
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="emanet-audit.csv"'
    return response
