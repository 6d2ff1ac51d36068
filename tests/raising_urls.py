"""The project's routes plus views that fail on purpose (tests/test_safe_defaults.py): what a user sees when
something unexpected breaks."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"

CANARY_LOCAL = "local-variable-canary-7f3a"
CANARY_MESSAGE = "exception-message-canary-91c2"


def fail(request: HttpRequest) -> HttpResponse:
    hidden = CANARY_LOCAL  # a debug page lists the frame's local variables (and shows this source line)
    raise RuntimeError(f"{CANARY_MESSAGE} {hidden}")


urlpatterns = [
    path("test-fails/", fail),
    path("api/v1/test-fails", fail),
    path("", include("config.urls")),
]
