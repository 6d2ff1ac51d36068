"""The audit trail over the API: compliance officers only (administrators included only if they are also in
the "Compliance officers" group). Reading, verifying and exporting are themselves audited."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import results
from governance.apikeys import ApiKeyActionAllowed
from governance.audit import FIELDS, actor_for, audit_export, audit_record, audit_verify
from governance.audit.selectors import FILTERS, BadFilter, audit_events, read_details
from governance.models import AuditEvent
from governance.permissions import IsComplianceOfficer


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [*FIELDS, "prev_hash", "hash"]


# Row numbers (``seq``) are a PostgreSQL bigint: bounded here, so a huge number is a 400, not a database error.
SEQ_MAX = 2**63 - 1


def _text(help_text: str = "") -> serializers.CharField:
    # CharField refuses NUL characters (PostgreSQL cannot store or compare them): a 400, not a 500.
    return serializers.CharField(required=False, allow_blank=True, max_length=200, help_text=help_text)


# The audit trail's filters (governance.audit.selectors.FILTERS), for the API and the portal's log page alike.
# Built with type(): "from" is a Python keyword, and it is the parameter's name.
AuditEventsQuery: type[serializers.Serializer] = type(
    "AuditEventsQuery",
    (serializers.Serializer,),
    {
        "from": _text("a date or time (2026-11-24, 2026-11-24T10:00)"),
        "to": _text("a date or time (the whole day for a date)"),
        "actor": _text("a user id, or key:<id> for an API key"),
        "role": _text(),
        "action": _text("an action, or its prefix (document.)"),
        "collection": serializers.IntegerField(required=False, min_value=1, max_value=SEQ_MAX),
        "outcome": _text("ok | denied | failed"),
        "correlation_id": serializers.RegexField(
            r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
            required=False,
            allow_blank=True,
            help_text="a request's id (UUID), as in X-Request-ID",
        ),
        "target": _text("type:id"),
        "special": _text("1 | true | on: retrievals of special-category passages only"),
        "limit": serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000),
        "before_seq": serializers.IntegerField(
            required=False, min_value=1, max_value=SEQ_MAX, help_text="pages back: rows before this one"
        ),
    },
)


def audit_query(params: Any) -> tuple[QuerySet[AuditEvent], dict[str, Any]]:
    """The filtered events (newest first) and the parsed parameters. Raises ValidationError (400) on malformed
    parameters; ``from``/``to``/``actor`` that do not parse are reported the same way."""
    query = AuditEventsQuery(data=params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    try:
        events = audit_events({name: data[name] for name in FILTERS if data.get(name) not in (None, "")})
    except BadFilter as exc:
        raise ValidationError({"detail": str(exc)}) from exc
    if data.get("before_seq") is not None:
        events = events.filter(seq__lt=data["before_seq"])
    return events, data


class AuditEventListApi(APIView):
    permission_classes = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsComplianceOfficer]

    @extend_schema(
        operation_id="v1_audit_events_list",
        parameters=[AuditEventsQuery],
        responses=results(AuditEventOutput, next_before_seq=serializers.IntegerField(allow_null=True)),
        summary="Audit events, newest first",
    )
    def get(self, request: Request) -> Response:
        events, data = audit_query(request.query_params)
        limit = data["limit"]
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

    @extend_schema(
        responses=OpenApiTypes.OBJECT, summary="Recompute the hash chain; OK or the first broken row"
    )
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

    class Query(serializers.Serializer):
        # Not "format": DRF reads that one for content negotiation.
        type = serializers.ChoiceField(choices=["json", "csv"], required=False, default="json")
        first_seq = serializers.IntegerField(required=False, min_value=1, max_value=SEQ_MAX)
        last_seq = serializers.IntegerField(required=False, min_value=1, max_value=SEQ_MAX)

    @extend_schema(
        parameters=[Query],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
        summary="Export a contiguous stretch with a manifest (verify offline: manage.py audit_verify --file)",
    )
    def get(self, request: Request) -> HttpResponse:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        kind = query.validated_data["type"]
        export = audit_export(
            first_seq=query.validated_data.get("first_seq"), last_seq=query.validated_data.get("last_seq")
        )
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
