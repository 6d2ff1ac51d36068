"""``manage.py createsuperuser``: Django's command, audited — every administrator it creates is a
``user.create`` event (is_superuser true) in the trail (governance.users). Listed first in INSTALLED_APPS,
this app's command replaces Django's."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import createsuperuser

from governance.audit import Actor
from governance.users import user_created


class Command(createsuperuser.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects.using(options.get("database") or "default")
        before = set(users.filter(is_superuser=True).values_list("pk", flat=True))
        super().handle(*args, **options)
        for user in users.filter(is_superuser=True).exclude(pk__in=before).order_by("pk"):
            user_created(user=user, actor=Actor(role="command_line"))
