"""What the portal's base template shows on every page: the compliance and models links, the conversation sidebar and the
strings the page's JavaScript needs.

Every value is a callable, which the template engine calls only when a page shows it: the admin, the login and
the error pages, and anonymous visitors, cost no query (``request.user`` is not even loaded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from governance.roles import is_admin, is_compliance_officer
from rag.models import Conversation
from rag.selectors import conversation_list


def ui_strings() -> dict[str, str]:
    """Strings the page's JavaScript shows, translated here so the script needs no catalogue of its own."""
    return {
        "thinking": _("Searching your documents…"),
        "reading": _("Sources found. The answer is being written…"),
        "error": _("Something went wrong. Please try again."),
        "network": _("The server could not be reached. Check your connection and try again."),
        "sources": _("Sources"),
        "page": _("page"),
        "open_document": _("Open document"),
        "close": _("Close"),
        "helpful": _("Helpful"),
        "not_helpful": _("Not helpful"),
        "thanks": _("Thank you for the feedback."),
        "interrupted": _("The answer was interrupted."),
        "queued": _("queued"),
        "processing": _("processing"),
        "ready": _("ready"),
        "failed": _("failed"),
        "uploading": _("uploading"),
        "duplicate": _("already in this collection"),
        "chunks": _("passages"),
        "not_cited": _("offered to the model, not cited"),
    }


def portal(request: HttpRequest) -> dict[str, Callable[[], Any]]:
    def officer() -> bool:
        return is_compliance_officer(getattr(request, "user", None))  # False for anonymous, without a query

    def admin() -> bool:
        return is_admin(getattr(request, "user", None))  # no query: is_staff/is_superuser are on the user

    def conversations() -> QuerySet[Conversation] | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # base.html shows no sidebar
        return conversation_list(user=user)[:50]

    return {
        "is_compliance_officer": officer,
        "is_admin": admin,
        "conversations": conversations,
        "ui_strings": ui_strings,
    }
