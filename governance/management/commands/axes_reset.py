"""``manage.py axes_reset``: lift every login lockout (audited: ``login.unlock``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from governance.management.commands._lockout import reset


class Command(BaseCommand):
    help = "Reset all access attempts and lockouts (audited)"

    def handle(self, *args: Any, **options: Any) -> None:
        reset(self, "axes_reset")
