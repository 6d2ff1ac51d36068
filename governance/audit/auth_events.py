"""Logins, failed logins and lockouts into the audit trail. Django and axes announce them only as signals;
these receivers are adapters that call an audit service and nothing else."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed

from governance import lockout
from governance.audit import Actor, actor_for, audit_record
from governance.audit.denied import audit_login_failed


def _route(request: Any) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None else ""


def _logged_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    actor = actor_for(request) if request is not None else Actor()
    audit_record(action="login", actor=Actor(user.pk, None, actor.role, actor.ip, actor.correlation_id))


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    # Django cleanses the password out of ``credentials``; the typed name is pseudonymised by the service.
    audit_login_failed(
        actor=actor_for(request) if request is not None else Actor(role="anonymous"),
        username=str(credentials.get("username", "")),
        path=_route(request),
    )


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="emanet-audit-login")
    user_login_failed.connect(_login_failed, dispatch_uid="emanet-audit-login-failed")
    lockout.connect()
