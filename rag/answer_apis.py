"""REST API v1 for questions: ask (JSON or Server-Sent Events), conversations, feedback. Thin views."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import SSE_EVENT_SCHEMA, errors, results
from governance.audit import actor_for
from rag import selectors
from rag.models import Answer, AnswerFeedback, Conversation
from rag.services import answers as service


class AnswerOutput(serializers.Serializer):
    answer_id = serializers.IntegerField(source="pk")
    question = serializers.CharField()
    answer = serializers.SerializerMethodField()
    withheld = serializers.SerializerMethodField(
        help_text="A source of this answer is no longer readable by you: its text is not shown"
    )
    status = serializers.CharField()
    not_found = serializers.BooleanField()
    citations = serializers.SerializerMethodField()
    conversation_id = serializers.IntegerField()
    model = serializers.CharField()
    usage = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    # Answers come from rag.selectors.answers_shown (answer_get, conversation_answers): ``withheld`` and each
    # citation's ``readable`` are decided there, in SQL, against what the reader may read now.
    def get_answer(self, answer: Answer) -> str:
        return service.answer_text_shown(answer)

    def get_withheld(self, answer: Answer) -> bool:
        return bool(getattr(answer, "withheld", True))

    def get_citations(self, answer: Answer) -> list[dict[str, Any]]:
        policies: dict[int, Any] = {}
        return [service.citation_data(citation, policies) for citation in answer.citations.all()]

    def get_usage(self, answer: Answer) -> dict[str, int]:
        return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}


class EventStreamRenderer(BaseRenderer):
    """Lets clients send ``Accept: text/event-stream``. The stream itself is written by the view; this renders
    what DRF itself answers on that channel (errors: 400/401/404/503) as one SSE ``error`` event."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return f"event: error\ndata: {payload}\n\n".encode()


def _sse(events: Iterator[service.StreamEvent]) -> Iterator[bytes]:
    for event in events:
        payload = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
        yield f"event: {event.event}\ndata: {payload}\n\n".encode()


class AskApi(APIView):
    api_key_actions = {"POST": "ask"}
    renderer_classes = [JSONRenderer, EventStreamRenderer]
    arrived: float = 0.0

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication and throttling: Emanet's pre-model time (prepare_ms) counts them too.
        self.arrived = time.monotonic()
        super().initial(request, *args, **kwargs)

    class InputSerializer(serializers.Serializer):
        question = serializers.CharField(max_length=2000)
        collections = serializers.ListField(
            child=serializers.CharField(), required=False, allow_empty=False, help_text="Ids or names"
        )
        conversation_id = serializers.IntegerField(required=False, allow_null=True, default=None)
        stream = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            (200, "application/json"): OpenApiResponse(
                AnswerOutput,
                description="The answer; with stream=true, text/event-stream, in this order: one "
                "`sources` event ({sources: [{n, available, document_id, title, chunk_id, page, section}]}) "
                "as soon as the model server has accepted the request, before it has read the prompt: what "
                "the answer will cite, numbered as the citations will be, titles as you may see them (a title "
                "naming a special category is hidden without a `special` grant), no passage text; then "
                "`token` events ({text}); one `citations` event ({citations}: the same numbers, with "
                "snippet and cited); then `done` ({answer_id, conversation_id, status, not_found, model, "
                "usage, prepare_ms: Emanet's own milliseconds before the model call, null when the model "
                "was not called}); `error` ({detail}) before `citations` if the model is lost midway. "
                "A model server that cannot be reached at all is a 503 before any event.",
            ),
            (200, "text/event-stream"): SSE_EVENT_SCHEMA,
            **errors(404, 503),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refs = data.validated_data.get("collections")
        collection_ids = (
            [selectors.collection_get(user=request.user, ref=ref).pk for ref in refs] if refs else None
        )
        conversation: Conversation | None = None
        if data.validated_data["conversation_id"] is not None:
            conversation = selectors.conversation_get(
                user=request.user, conversation_id=data.validated_data["conversation_id"]
            )
        try:
            prepared = service.answer_prepare(
                user=request.user,
                question=data.validated_data["question"],
                collection_ids=collection_ids,
                conversation=conversation,
                actor=actor_for(request),
                started=self.arrived or None,
            )
        except service.PromptTooLong as exc:
            raise ValidationError({"question": [str(exc)]}) from exc
        if not data.validated_data["stream"]:
            answer = service.answer_complete(prepared=prepared)
            shown = selectors.answer_get(user=request.user, answer_id=answer.pk)
            return Response(AnswerOutput(shown).data)
        events = service.answer_stream(prepared=prepared)
        # Pull the first event (``sources``, sent once the model server has accepted the request) now: a model
        # server that cannot be reached still gets a 503, not a broken stream.
        first = next(events)
        response = StreamingHttpResponse(_sse(_chain(first, events)), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
        return response


def _chain(first: service.StreamEvent, rest: Iterator[service.StreamEvent]) -> Iterator[service.StreamEvent]:
    yield first
    yield from rest


class ConversationOutput(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "created_at", "updated_at"]


class ConversationListApi(APIView):
    api_key_actions = {"GET": "ask"}

    @extend_schema(operation_id="v1_conversations_list", responses=results(ConversationOutput))
    def get(self, request: Request) -> Response:
        conversations = selectors.conversation_list(user=request.user)[:200]
        return Response({"results": ConversationOutput(conversations, many=True).data})


class ConversationDetailApi(APIView):
    api_key_actions = {"GET": "ask"}

    class DetailOutput(ConversationOutput):
        answers = serializers.SerializerMethodField()

        class Meta(ConversationOutput.Meta):
            fields = [*ConversationOutput.Meta.fields, "answers"]

        def get_answers(self, conversation: Conversation) -> list[dict[str, Any]]:
            answers = selectors.conversation_answers(user=self.context["user"], conversation=conversation)
            return list(AnswerOutput(answers, many=True).data)

    @extend_schema(responses=DetailOutput)
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        return Response(self.DetailOutput(conversation, context={"user": request.user}).data)


class AnswerFeedbackApi(APIView):
    api_key_actions = {"POST": "ask"}

    class InputSerializer(serializers.Serializer):
        rating = serializers.ChoiceField(choices=AnswerFeedback.Rating.choices)
        comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    class FeedbackOutput(serializers.ModelSerializer):
        class Meta:
            model = AnswerFeedback
            fields = ["rating", "comment", "updated_at"]

    @extend_schema(request=InputSerializer, responses={200: FeedbackOutput})
    def post(self, request: Request, answer_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = selectors.answer_get(user=request.user, answer_id=answer_id)
        feedback = service.answer_feedback_set(answer=answer, user=request.user, **data.validated_data)
        return Response(self.FeedbackOutput(feedback).data, status=status.HTTP_200_OK)
