"""Login lockout (django-axes): the one module that talks to axes.

Axes counts failed sign-ins per user name *and* client address (``AXES_LOCKOUT_PARAMETERS``) and refuses
further attempts for ``AXES_COOLOFF_MINUTES`` after ``AXES_FAILURE_LIMIT`` failures; ``config.login`` renders
the refusal. Here: the lockout becomes an audit event (``connect``), lifting one is an audited service
(``login_lockouts_reset``, used by the ``axes_reset*`` management commands), and axes' log lines name the
client by pseudonyms (``client_str``).

Axes keeps its attempt rows (user name and address in clear: it must match them) only until the cool-off ends
(each sign-in deletes the expired ones); its access log of successful logins is off (``AXES_DISABLE_ACCESS_LOG``):
the audit trail has the logins, with pseudonyms.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from axes.utils import reset

from governance.audit import Actor, actor_for, audit_record
from governance.audit.denied import audit_login_locked_out
from governance.pii.redaction import pseudonym


def login_lockouts_reset(
    *, actor: Actor, via: str, ip: str | None = None, username: str | None = None
) -> int:
    """Lift lockouts: all of them (neither given), or those of an address, a user name, or both. A privileged
    act that lets an attacker guess again, so it is audited (with pseudonyms of what was named)."""
    removed = reset(ip=ip, username=username)
    audit_record(
        action="login.unlock",
        actor=actor,
        details={
            "scope": "all" if ip is None and username is None else "selected",
            "ip": pseudonym("IP_ADDRESS", ip) if ip else None,
            "username": pseudonym("PERSON", username) if username else None,
            "attempts_removed": removed,
            "via": via,
        },
    )
    return removed


def client_str(
    username: str | None, ip_address: str | None, user_agent: str, path_info: Any, request: Any
) -> str:
    """``AXES_CLIENT_STR_CALLABLE``: how axes names a client in its log lines — pseudonyms, not the typed name
    (which may be a password typed into the wrong field) and the address."""
    return "{user: %s, ip: %s}" % (  # noqa: UP031 - axes logs it as it is
        pseudonym("PERSON", username or ""),
        pseudonym("IP_ADDRESS", ip_address or ""),
    )


def _locked_out(sender: Any, request: Any, username: str | None = None, **_: Any) -> None:
    """Adapter: axes announces a lockout only as a signal."""
    match = getattr(request, "resolver_match", None)
    audit_login_locked_out(
        actor=actor_for(request), username=username or "", path=match.route if match else "login"
    )


def connect() -> None:
    user_locked_out.connect(_locked_out, dispatch_uid="emanet-audit-login-locked-out")
