"""``manage.py axes_reset_username NAME…``: lift the login lockouts of these user names (audited:
``login.unlock``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance.management.commands._lockout import reset


class Command(BaseCommand):
    help = "Reset all access attempts and lockouts for given usernames (audited)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="+", type=str)

    def handle(self, *args: Any, **options: Any) -> None:
        for username in options["username"]:
            reset(self, "axes_reset_username", username=username)
