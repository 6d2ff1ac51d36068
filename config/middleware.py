"""Correlation ids: every request gets one (or keeps the caller's ``X-Request-ID`` when it is a UUID); audit events carry it and
the response returns it, so one question can be followed from the portal through the audit trail. And the portal's
one mapping of the domain's ``NotFound`` to the 404 page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse

from config.api_errors import handler404
from rag.selectors import NotFound

# Only UUID-shaped ids are taken from the caller: a free-form header could carry personal data (a TCKN is 11
# digits) into the audit trail.
_VALID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request.correlation_id = given if _VALID.match(given) else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.correlation_id  # type: ignore[attr-defined]
        return response


class NotFoundMiddleware:
    """A selector's ``NotFound`` (missing, or not visible to this user) raised by a portal view is the 404 page,
    so views call selectors without catching it. The API maps it in ``config.api_errors.exception_handler``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, NotFound):
            return handler404(request, Http404(str(exception)))
        return None
