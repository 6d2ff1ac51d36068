"""``manage.py drf_create_token <username> [--days N] [--name NAME]``: a new personal API token for a user,
printed once (``Authorization: Token <key>``). Replaces DRF's command of the same name, which stored tokens
in clear and without expiry: the token is stored hashed, expires (``PERSONAL_TOKEN_DAYS`` by default) and
its creation is audited. Every call makes a new token; revoke old ones with ``DELETE /api/v1/tokens/{id}`` or
in the admin."""

from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit import Actor
from governance.tokens import TokenError, personal_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=None, help="Lifetime (default PERSONAL_TOKEN_DAYS)")
        parser.add_argument("--name", default="command line", help="What the token is for")
        # DRF's option; every call makes a new token anyway.
        parser.add_argument("-r", "--reset", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        try:
            token, secret = personal_token_create(
                user=user, name=options["name"], days=days, actor=Actor(role="command_line")
            )
        except TokenError as exc:
            raise CommandError(str(exc)) from exc
        expiry = token.expires_at.date().isoformat() if token.expires_at else "never"
        self.stderr.write(f"Token {token.prefix} for {user.get_username()}, expires {expiry}. Shown once:")
        self.stdout.write(secret)
