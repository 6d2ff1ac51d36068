"""``manage.py subject_request``: data-subject requests from the command line.

subject_request open access|erasure --by OFFICER [--tckn …] [--email …] [--phone …] [--iban …] [--vkn …] [--name …]
subject_request approve ID --by OTHER_OFFICER
subject_request process ID          (run it here instead of waiting for a Celery worker)
subject_request show ID             (status and the export or receipt, JSON)
subject_request list [--overdue]
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit import Actor
from governance.compliance.subjects import (
    IDENTIFIERS,
    SubjectRequestError,
    is_overdue,
    subject_request_approve,
    subject_request_create,
    subject_request_process,
)
from governance.compliance_apis import request_data
from governance.models import SubjectRequest
from governance.roles import role_of


class Command(BaseCommand):
    help = "Open, approve, process and show data-subject requests (access, erasure)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("command", choices=["open", "approve", "process", "show", "list"])
        parser.add_argument("arg", nargs="?", help="access|erasure for open; the request id otherwise")
        parser.add_argument("--by", help="The compliance officer acting (username)")
        parser.add_argument("--overdue", action="store_true")
        parser.add_argument("--note", default="")
        for name in IDENTIFIERS:
            parser.add_argument(f"--{name}", action="append", help=f"{name} of the data subject (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["command"]
        try:
            if command == "open":
                user = self._officer(options["by"])
                identifiers = {name: options[name] for name in IDENTIFIERS if options[name]}
                created = subject_request_create(
                    kind=options["arg"] or "",
                    identifiers=identifiers,
                    user=user,
                    actor=self._actor(user),
                    note=options["note"],
                )
                self.stdout.write(
                    json.dumps(
                        {"id": created.pk, "status": created.status, "due_at": created.due_at.isoformat()}
                    )
                )
            elif command == "approve":
                user = self._officer(options["by"])
                approved = subject_request_approve(
                    request=self._request(options["arg"]), user=user, actor=self._actor(user)
                )
                self.stdout.write(f"Request {approved.pk}: {approved.status}")
            elif command == "process":
                processed = subject_request_process(request_id=self._request(options["arg"]).pk)
                self.stdout.write(f"Request {options['arg']}: {processed.status if processed else 'gone'}")
            elif command == "show":
                self.stdout.write(
                    json.dumps(
                        request_data(self._request(options["arg"]), full=True), ensure_ascii=False, indent=2
                    )
                )
            else:
                for item in SubjectRequest.objects.all()[:500]:
                    if options["overdue"] and not is_overdue(item):
                        continue
                    flag = " OVERDUE" if is_overdue(item) else ""
                    self.stdout.write(
                        f"{item.pk}\t{item.kind}\t{item.status}\tdue {item.due_at:%Y-%m-%d}{flag}"
                    )
        except SubjectRequestError as exc:
            raise CommandError(
                f"{exc} {exc.errors if len(exc.errors) > 1 or 'detail' not in exc.errors else ''}".strip()
            ) from exc

    def _officer(self, username: str | None) -> Any:
        if not username:
            raise CommandError("--by USERNAME: the compliance officer acting.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        return user

    def _actor(self, user: Any) -> Actor:
        return Actor(user_id=user.pk, role=role_of(user))

    def _request(self, ref: str | None) -> SubjectRequest:
        if not ref or not ref.isdecimal():
            raise CommandError("Give the request id.")
        found = SubjectRequest.objects.filter(pk=int(ref)).first()
        if found is None:
            raise CommandError(f"No request {ref}.")
        return found
