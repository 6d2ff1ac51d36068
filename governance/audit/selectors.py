"""Reading the audit trail: filters for the compliance UI and API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from governance.models import AuditEvent

FILTERS = (
    "from", "to", "actor", "role", "action", "collection", "outcome", "correlation_id", "target", "special",
)  # fmt: skip


class BadFilter(ValueError):
    pass


def _moment(value: str, *, end: bool) -> datetime:
    from django.utils import timezone

    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise BadFilter(f"Not a date or time: {value!r} (use 2026-11-24 or 2026-11-24T10:00).")
        moment = datetime.combine(day, datetime.max.time() if end else datetime.min.time())
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def audit_events(params: Mapping[str, Any]) -> QuerySet[AuditEvent]:
    """Newest first. ``actor`` is a user id, or ``key:<id>`` for an API key; ``target`` is ``type:id``."""
    events = AuditEvent.objects.all()
    try:
        if params.get("from"):
            events = events.filter(created_at__gte=_moment(params["from"], end=False))
        if params.get("to"):
            events = events.filter(created_at__lte=_moment(params["to"], end=True))
        actor = str(params.get("actor") or "")
        if actor.startswith("key:"):
            events = events.filter(actor_key_id=int(actor[4:]))
        elif actor:
            events = events.filter(actor_user_id=int(actor))
        if params.get("collection"):
            events = events.filter(collection_id=int(params["collection"]))
    except ValueError as exc:
        raise BadFilter(
            str(exc) if isinstance(exc, BadFilter) else "actor and collection are numeric ids."
        ) from exc
    for name in ("role", "outcome", "correlation_id"):
        if params.get(name):
            events = events.filter(**{name: params[name]})
    if params.get("action"):
        events = events.filter(action__startswith=params["action"])
    if params.get("target"):
        target_type, _, target_id = str(params["target"]).partition(":")
        events = events.filter(target_type=target_type, target_id=target_id)
    if str(params.get("special") or "") in {"1", "true", "on"}:
        # Retrievals of special-category chunks (KVKK Art. 6): search, ask and document views flag them.
        events = events.filter(details__special_category=True)
    return events.order_by("-seq")


def read_details(params: Mapping[str, Any], *, count: int, via: str, valid: bool = True) -> dict[str, Any]:
    """What a read of the trail records about itself: the filters used and how many events it returned — never
    the events' content. Filters that did not parse are named without their values (typed free text could be
    anything, a card number included)."""
    if not valid:
        used_names = sorted(name for name in (*FILTERS, "limit", "before_seq") if params.get(name))
        return {"filters": dict.fromkeys(used_names, "(malformed)"), "count": count, "via": via}
    # NUL cannot be stored (jsonb), and a malformed filter is recorded as it came, minus that.
    used = {
        name: str(params[name])[:200].replace("\x00", "")
        for name in (*FILTERS, "limit", "before_seq")
        if params.get(name)
    }
    return {"filters": used, "count": count, "via": via}
