"""The sign-in page's answer to a locked-out user name and address (``AXES_LOCKOUT_CALLABLE``): the login page
with a clear message and 429, for the portal's /login/ and the admin's /admin/login/ alike."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    context = {
        "locked_out": True,
        "cooloff_minutes": settings.AXES_COOLOFF_MINUTES,
        "next": request.POST.get("next", "") or request.GET.get("next", ""),
    }
    return render(request, "portal/login.html", context, status=429)
