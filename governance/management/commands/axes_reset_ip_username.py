"""``manage.py axes_reset_ip_username IP NAME``: lift the login lockout of one user name from one address
(audited: ``login.unlock``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance.management.commands._lockout import reset


class Command(BaseCommand):
    help = "Reset all access attempts and lockouts for a given IP address and username (audited)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ip", type=str)
        parser.add_argument("username", type=str)

    def handle(self, *args: Any, **options: Any) -> None:
        reset(self, "axes_reset_ip_username", ip=options["ip"], username=options["username"])
