"""Every API error is JSON ``{"detail": ...}`` with the right status; never an HTML page or a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found, server_error
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from inference.embedding_server import EmbeddingServerError
from inference.gate import ModelRefused
from inference.llm import InferenceUnavailable
from rag import selectors

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ModelRefused):
        return Response({"detail": f"The model gate refused the language model: {exc}"}, status=503)
    if isinstance(exc, InferenceUnavailable):
        return Response({"detail": f"The language model is not reachable: {exc}"}, status=503)
    if isinstance(exc, EmbeddingServerError):  # a question's embedding, from a GPU embedding server
        return Response({"detail": f"The embedding server could not embed the query: {exc}"}, status=503)
    if isinstance(exc, selectors.NotFound):
        # Missing, or not visible to this user: one 404 for both, with the selector's message.
        exc = NotFound(str(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's handler500 below answers (and logs) it
    _mark_denial(exc, context)
    if isinstance(response.data, dict) and "detail" not in response.data:
        # Field validation errors: keep the per-field messages, add one readable summary.
        response.data = {"detail": _summary(response.data), "errors": response.data}
    elif isinstance(response.data, list):
        response.data = {"detail": " ".join(str(item) for item in response.data)}
    return response


# Why a request was refused, for the audit event config.middleware.DeniedAccessMiddleware writes.
_DENIAL_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (AuthenticationFailed, "bad_credentials"),  # a token or API key was presented and is not valid
    (NotAuthenticated, "no_credentials"),
    (PermissionDenied, "forbidden"),
    (NotFound, "not_found"),
    (Http404, "not_found"),
)


def _mark_denial(exc: Exception, context: dict[str, Any]) -> None:
    request = getattr(context.get("request"), "_request", None)
    for kind, reason in _DENIAL_REASONS:
        if isinstance(exc, kind) and request is not None:
            request.denial_reason = reason
            return


def _summary(errors: dict[str, Any]) -> str:
    parts = []
    for field, messages in errors.items():
        text = " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    return "; ".join(parts)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception or Exception("not found"))


def handler500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            {"detail": "Internal server error. The administrator can find it in the log."}, status=500
        )
    return server_error(request)


class ApiJsonErrorsMiddleware:
    """Under /api/, answer JSON for what DRF does not see: unknown URLs (also with DEBUG on, where Django
    would render its HTML debug page), oversized or malformed bodies, and unexpected exceptions."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            _wants_json(request)
            and response.status_code in (400, 404, 500)
            and not response.get("Content-Type", "").startswith(("application/json", "text/event-stream"))
        ):
            return JsonResponse(
                {"detail": _GENERIC.get(response.status_code, "Error.")}, status=response.status_code
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _wants_json(request):
            return None
        if isinstance(exception, Http404):
            return JsonResponse({"detail": "Not found."}, status=404)
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"detail": "The request body is too large."}, status=413)
        if isinstance(exception, SuspiciousOperation):
            return JsonResponse({"detail": "Bad request."}, status=400)
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return JsonResponse({"detail": _GENERIC[500]}, status=500)


_GENERIC = {
    400: "Bad request.",
    404: "Not found.",
    500: "Internal server error. The administrator can find it in the log.",
}
