"""Who may use the compliance section and the audit trail: compliance officers (governance.roles). One view
decorator for the portal, one permission class for the API; the subject-request services check the role again
themselves (governance.compliance.subjects)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from rest_framework import permissions
from rest_framework.request import Request

from governance.roles import is_compliance_officer

View = Callable[..., HttpResponse]


class IsComplianceOfficer(permissions.BasePermission):
    message = "Only compliance officers read the audit trail, handle data-subject requests and run retention."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_compliance_officer(request.user)


def compliance_officer_required(view: View) -> View:
    """Signed in (else the login page), then a compliance officer (else 403)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_compliance_officer(request.user):
            raise PermissionDenied(_("Only compliance officers may open the compliance section."))
        return view(request, *args, **kwargs)

    return login_required(wrapped)
