"""``manage.py axes_reset_ip IP…``: lift the login lockouts of these addresses (audited: ``login.unlock``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance.management.commands._lockout import reset


class Command(BaseCommand):
    help = "Reset all access attempts and lockouts for given IP addresses (audited)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ip", nargs="+", type=str)

    def handle(self, *args: Any, **options: Any) -> None:
        for ip in options["ip"]:
            reset(self, "axes_reset_ip", ip=ip)
