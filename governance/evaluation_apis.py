"""Evaluation over the API (governance.compliance.evaluation): sets, queued runs, a run's results, and the
comparison of two runs. Compliance officers and administrators; employees and API keys are refused."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import errors, results
from governance import tasks
from governance.apikeys import ApiKeyActionAllowed
from governance.audit import actor_for
from governance.compliance.evaluation import (
    EvaluationError,
    evaluation_items_parse,
    evaluation_set_create,
    evaluation_set_from_feedback,
)
from governance.compliance.evaluation_compare import evaluation_compare, result_data
from governance.compliance.evaluation_upkeep import (
    evaluation_item_update,
    evaluation_set_from_answers,
    evaluation_sets_visible,
)
from governance.models import EvaluationItem, EvaluationRun, EvaluationSet
from governance.roles import is_admin, is_compliance_officer


class IsOfficerOrAdmin(permissions.BasePermission):
    message = "Only compliance officers and administrators run evaluations."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_compliance_officer(request.user) or is_admin(request.user)


PERMISSIONS = [permissions.IsAuthenticated, ApiKeyActionAllowed, IsOfficerOrAdmin]


def set_data(evaluation_set: EvaluationSet) -> dict[str, Any]:
    return {
        "id": evaluation_set.pk,
        "collection": evaluation_set.collection_id,
        "name": evaluation_set.name,
        "created_at": evaluation_set.created_at.isoformat(),
        "items": [
            {
                "id": item.pk,
                "question": item.question,
                "expected_document_ids": item.expected_document_ids,
                "expected_fact": item.expected_fact,
                "not_in_documents": item.not_in_documents,
                "source": item.source,
            }
            for item in evaluation_set.items.all()
        ],
    }


def run_data(run: EvaluationRun, *, full: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.pk,
        "set": run.evaluation_set_id,
        "model": run.model,
        "settings": run.settings_snapshot,
        "status": run.status,
        "run_as": run.run_as_id,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "totals": run.totals,
        "error": run.error,
    }
    if full:
        data["results"] = [result_data(result) for result in run.results.all()]
    return data


class EvaluationSetListCreateApi(APIView):
    permission_classes = PERMISSIONS

    class InputSerializer(serializers.Serializer):
        collection = serializers.IntegerField(min_value=1)
        name = serializers.CharField(max_length=200, required=False, default="")
        items = serializers.ListField(child=serializers.DictField(), required=False)
        content = serializers.CharField(
            required=False, help_text="the items as JSONL (one object a line) or CSV with a header"
        )
        from_feedback = serializers.BooleanField(
            required=False, default=False, help_text="build the set from the collection's 👎 answers"
        )
        from_answers = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=1000,
            help_text="build a regression set from the answer log: up to this many answered questions of the "
            "collection, each expecting the documents it cited",
        )

    class Output(serializers.Serializer):
        id = serializers.IntegerField()
        collection = serializers.IntegerField()
        name = serializers.CharField()
        created_at = serializers.CharField()
        items = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=results(Output), summary="Evaluation sets, newest first")
    def get(self, request: Request) -> Response:
        sets = evaluation_sets_visible(request.user).prefetch_related("items")[:200]
        return Response({"results": [set_data(s) for s in sets]})

    @extend_schema(
        request=InputSerializer,
        responses={201: Output, **errors(400)},
        summary="Create an evaluation set (items, JSONL/CSV content, from 👎 feedback or the answer log)",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            if values.get("from_answers"):
                created = evaluation_set_from_answers(
                    collection_id=values["collection"],
                    limit=values["from_answers"],
                    actor=actor_for(request),
                    user=request.user,
                    name=values["name"],
                )
            elif values["from_feedback"]:
                created = evaluation_set_from_feedback(
                    collection_id=values["collection"],
                    actor=actor_for(request),
                    user=request.user,
                    name=values["name"],
                )
            else:
                items = values.get("items")
                source = EvaluationItem.Source.MANUAL
                if items is None and "content" in values:
                    items = evaluation_items_parse(values["content"].encode())
                    source = EvaluationItem.Source.IMPORT
                created = evaluation_set_create(
                    collection_id=values["collection"],
                    name=values["name"],
                    items=items or [],
                    actor=actor_for(request),
                    user=request.user,
                    source=source,
                )
        except EvaluationError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(set_data(created), status=status.HTTP_201_CREATED)


class EvaluationRunCreateApi(APIView):
    """Queue a run of the set (the Celery task ``governance.tasks.evaluation_run``): 202 with the run."""

    permission_classes = PERMISSIONS

    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT, **errors(404)},
        summary="Run an evaluation set against the current model, asking as yourself",
    )
    def post(self, request: Request, set_id: int) -> Response:
        # Asked as the requesting officer, under their own access (tasks.evaluation_run_queue).
        if not evaluation_sets_visible(request.user).filter(pk=set_id).exists():
            raise NotFound("No such evaluation set.")
        run = tasks.evaluation_run_queue(set_id=set_id, user=request.user, actor=actor_for(request))
        return Response(run_data(run, full=False), status=status.HTTP_202_ACCEPTED)


def _run(run_id: int, user: Any) -> EvaluationRun:
    """A run of a set the user may see (its questions are the collection's): else 404."""
    run = EvaluationRun.objects.filter(pk=run_id, evaluation_set__in=evaluation_sets_visible(user)).first()
    if run is None:
        raise NotFound("No such evaluation run.")
    return run


class EvaluationRunDetailApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **errors(404)}, summary="An evaluation run, per question"
    )
    def get(self, request: Request, run_id: int) -> Response:
        return Response(run_data(_run(run_id, request.user), full=True))


class EvaluationCompareApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **errors(404)},
        summary="Compare two evaluation runs (B minus A, per question and in total)",
    )
    def get(self, request: Request, run_a: int, run_b: int) -> Response:
        return Response(evaluation_compare(run_a=_run(run_a, request.user), run_b=_run(run_b, request.user)))


class EvaluationItemApi(APIView):
    """Edit one question of a set: its text, expected documents, expected fact, or "not in the documents"."""

    permission_classes = PERMISSIONS

    class InputSerializer(serializers.Serializer):
        question = serializers.CharField(max_length=4000, required=False)
        expected_document_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), max_length=100, required=False
        )
        expected_fact = serializers.CharField(max_length=2000, required=False, allow_blank=True)
        not_in_documents = serializers.BooleanField(required=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: OpenApiTypes.OBJECT, **errors(400, 404)},
        summary="Edit a question of an evaluation set (audited)",
    )
    def patch(self, request: Request, item_id: int) -> Response:
        item = EvaluationItem.objects.filter(
            pk=item_id, evaluation_set__in=evaluation_sets_visible(request.user)
        ).first()
        if item is None:
            raise NotFound("No such evaluation item.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            evaluation_item_update(item=item, changes=dict(data.validated_data), actor=actor_for(request))
        except EvaluationError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(set_data(EvaluationSet.objects.get(pk=item.evaluation_set_id)))
