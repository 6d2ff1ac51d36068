"""Correlation ids: every request gets one (or keeps the caller's ``X-Request-ID`` when it is a UUID); audit events carry it and
the response returns it, so one question can be followed from the portal through the audit trail. The portal's
one mapping of the domain's ``NotFound`` to the 404 page. And the one place where refusals become audit events."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import Http404, HttpRequest, HttpResponse

from config.api_errors import handler404
from governance.audit import actor_for
from governance.audit.denied import audit_denied
from rag.selectors import NotFound

# Only UUID-shaped ids are taken from the caller: a free-form header could carry personal data (a TCKN is 11
# digits) into the audit trail.
_VALID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


# What a caller sends as the method is stored only when it is one of these (a made-up verb is free text).
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}


class ForwardedForMiddleware:
    """Behind the one trusted TLS proxy (``TRUST_X_FORWARDED_FOR``): the client's address is the last one that
    proxy appended to ``X-Forwarded-For`` (earlier entries are the client's own claims). Without it every
    client would share the proxy's address: one lockout for everybody, one pseudonym in the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.TRUST_X_FORWARDED_FOR:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        last = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        try:
            request.META["REMOTE_ADDR"] = str(ipaddress.ip_address(last))
        except ValueError:
            pass  # no (valid) entry: the connection's own address stays
        return self.get_response(request)


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request.correlation_id = given if _VALID.match(given) else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request.correlation_id  # type: ignore[attr-defined]
        return response


# Presented credential schemes worth naming in an event; the credential itself never is.
_SCHEMES = {"token", "api-key", "bearer", "basic"}
_REASONS = {401: "no_credentials", 403: "forbidden", 404: "not_found"}


class DeniedAccessMiddleware:
    """Every 401, 403 or 404 that a routed view answers — portal and API, object probes, bad tokens and API
    keys, non-officers on the audit trail — is an ``access.denied`` audit event with outcome ``denied``,
    aggregated per actor (or pseudonymised address), reason and route per minute (governance.audit.denied).

    Only routed requests: a URL that matches no route (scanners, a browser's favicon) says nothing about
    anybody's data. The API's exception handler names the reason (``request.denial_reason``); otherwise the
    status does."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if response.status_code in _REASONS and match is not None:
            reason = getattr(request, "denial_reason", "") or _REASONS[response.status_code]
            if reason == "no_credentials" and request.headers.get("Authorization"):
                reason = "bad_credentials"
            scheme = request.headers.get("Authorization", "").partition(" ")[0].lower()
            details: dict[str, object] = {
                "method": request.method if request.method in _METHODS else "other",
                "status": response.status_code,
            }
            if scheme:
                details["scheme"] = scheme if scheme in _SCHEMES else "other"
            # The probed ids (not personal data) show what was tried; typed strings in a route are not kept.
            ids = {name: value for name, value in match.kwargs.items() if isinstance(value, int)}
            if ids:
                details["ids"] = ids
            audit_denied(
                actor=actor_for(request),
                action="access.denied",
                reason=reason,
                path=match.route,
                details=details,
            )
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
