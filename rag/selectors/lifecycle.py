"""Reads for the retention workflow: what has outlived its collection's retention period. Not filtered by a
user: retention acts for the organisation on every collection."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Func, QuerySet

from rag.models import Collection, Conversation, Document


def documents_expired(now: datetime) -> QuerySet[Any]:
    """Documents older than their collection's ``retention_days`` from upload, ``expires_at`` annotated,
    soonest expired first."""
    expires = ExpressionWrapper(
        F("created_at")
        + Func(
            F("collection__processing__retention_days"), template="make_interval(days => %(expressions)s)"
        ),
        output_field=DateTimeField(),
    )
    return (
        Document.objects.filter(collection__processing__retention_days__isnull=False)
        .annotate(expires_at=expires)
        .filter(expires_at__lte=now)
        .order_by("expires_at", "pk")
    )


def conversations_idle(*, days: int, now: datetime) -> QuerySet[Conversation]:
    """Conversations without activity for ``days`` (0: none; they are kept)."""
    if not days:
        return Conversation.objects.none()
    return Conversation.objects.filter(updated_at__lte=now - timedelta(days=days))


def collections_without_retention() -> list[dict[str, Any]]:
    """Collections holding documents but no retention period (no complete entry): never destroyed by a run."""
    rows = (
        Collection.objects.filter(documents__isnull=False)
        .exclude(processing__retention_days__isnull=False)
        .annotate(documents_held=Count("documents"))
        .order_by("name")
    )
    return [{"collection_id": c.pk, "collection": c.name, "documents": c.documents_held} for c in rows]


def collections_all() -> QuerySet[Collection]:
    """Every collection with its owner, by name: the records of processing cover all of them."""
    return Collection.objects.select_related("owner").order_by("name")
