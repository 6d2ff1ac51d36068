"""The ``axes_reset*`` commands, audited: they take precedence over axes' own (``governance`` comes before
``axes`` in INSTALLED_APPS) and lift lockouts through ``governance.lockout.login_lockouts_reset``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from governance.audit import Actor
from governance.lockout import login_lockouts_reset

# Whoever runs manage.py has the server's shell: an administrator, known to the trail by the command only.
OPERATOR = Actor(role="admin")


def reset(command: BaseCommand, name: str, *, ip: str | None = None, username: str | None = None) -> int:
    count = login_lockouts_reset(actor=OPERATOR, via=f"manage.py {name}", ip=ip, username=username)
    command.stdout.write(f"{count} attempts removed." if count else "No attempts found.")
    return count
