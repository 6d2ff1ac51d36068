"""Logins and failed logins into the audit trail. Django announces them only as signals; these receivers are
adapters that call ``audit_record`` and nothing else."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed

from governance.audit import Actor, actor_for, audit_record
from governance.pii.redaction import pseudonym


def _logged_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    actor = actor_for(request) if request is not None else Actor()
    audit_record(action="login", actor=Actor(user.pk, None, actor.role, actor.ip, actor.correlation_id))


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    actor = actor_for(request) if request is not None else Actor()
    # The attempted user name may be a real person's (or their password typed in the wrong field): only its
    # pseudonym is kept, enough to see repeated attempts on one account.
    audit_record(
        action="login",
        outcome="failed",
        actor=actor,
        details={"username": pseudonym("PERSON", str(credentials.get("username", "")))},
    )


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="emanet-audit-login")
    user_login_failed.connect(_login_failed, dispatch_uid="emanet-audit-login-failed")
