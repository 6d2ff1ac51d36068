"""Portal pages of the governance layer: a collection's personal-data policy and a redaction preview, and the
audit trail for compliance officers."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ValidationError

from governance.audit import actor_for, audit_record, audit_verify
from governance.audit.selectors import FILTERS, read_details
from governance.audit_apis import audit_query
from governance.models import AuditEvent
from governance.permissions import compliance_officer_required
from governance.pii.policies import policy_for_collection
from governance.pii.redaction import ENTITY_TYPES, Action
from governance.roles import is_admin
from rag import selectors
from rag.models import Answer
from rag.services.answers import chunk_version
from rag.services.collections import redaction_policy_set

ACTION_LABELS = {
    Action.MASK: gettext_lazy("mask: a numbered placeholder such as <TCKN_1>"),
    Action.HASH: gettext_lazy("hash: a pseudonym, the same for the same value everywhere"),
    Action.DROP: gettext_lazy("drop: removed"),
    Action.KEEP: gettext_lazy("keep: stored as written"),
}


@login_required
def collection_privacy(request: HttpRequest, collection_id: int) -> HttpResponse:
    """Readers see the policy and can preview it; administrators change it. A change re-ingests the
    collection's documents (``redaction_policy_set``)."""
    collection = selectors.collection_get(user=request.user, ref=collection_id)
    message, status = "", 200
    if request.method == "POST":
        if not is_admin(request.user):
            return HttpResponse(_("Only administrators may change a redaction policy."), status=403)
        rules = {t: request.POST.get(t, Action.MASK) for t in ENTITY_TYPES}
        try:
            _policy, queued = redaction_policy_set(
                collection_id=collection.pk, rules=rules, user=request.user, actor=actor_for(request)
            )
            message = _("Policy saved. %(count)d document(s) are being processed again under it.") % {
                "count": queued
            }
        except ValueError as exc:
            message, status = str(exc), 400
    policy = policy_for_collection(collection.pk)
    rows = [{"type": t, "label": label, "action": str(policy.action(t))} for t, label in ENTITY_TYPES.items()]
    context = {
        "collection": collection,
        "rows": rows,
        "actions": [(str(a), ACTION_LABELS[a]) for a in (Action.MASK, Action.HASH, Action.DROP, Action.KEEP)],
        "can_edit": is_admin(request.user),
        "message": message,
    }
    return render(request, "portal/privacy.html", context, status=status)


# --- compliance officers: the audit trail -----------------------------------------------------------------


@compliance_officer_required
def compliance_log(request: HttpRequest) -> HttpResponse:
    """The audit log with filters; newest first, 100 per page (``before_seq`` pages back)."""
    verification = None
    if request.method == "POST":  # the "Verify integrity" button
        verification = audit_verify()
        audit_record(
            action="audit.verify",
            actor=actor_for(request),
            outcome="ok" if verification.ok else "failed",
            details={"rows": verification.rows, "broken_seq": verification.broken_seq, "via": "portal"},
        )
    error, status = "", 200
    try:
        # The API's parser (AuditEventsQuery): malformed filters or page numbers are a 400 with the reason.
        events, _data = audit_query(request.GET)
        page = list(events[:100])
    except ValidationError as exc:
        error, page, status = _message(exc.detail), [], 400
    audit_record(
        action="audit.read",
        actor=actor_for(request),
        outcome="failed" if error else "ok",
        details=read_details(request.GET, count=len(page), via="portal", valid=not error),
    )
    query = request.GET.copy()
    query.pop("before_seq", None)
    context = {
        "events": page,
        "filters": {name: request.GET.get(name, "") for name in FILTERS},
        "error": error,
        "verification": verification,
        "next_before": page[-1].seq if len(page) == 100 else None,
        "query": query.urlencode(),
    }
    return render(request, "compliance/log.html", context, status=status)


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(
            f"{name}: {_message(value)}" if name != "detail" else _message(value)
            for name, value in detail.items()
        )
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    return str(detail)


@compliance_officer_required
def compliance_event(request: HttpRequest, seq: int) -> HttpResponse:
    """One event; for a question: the answer, and the chunks it was built from as they are now (a changed or
    deleted chunk shows as such against the content hash recorded at the time)."""
    event = AuditEvent.objects.filter(seq=seq).first()
    if event is None:
        raise Http404(_("No such audit event."))
    answer = None
    sources = []
    if event.target_type == "answer" and event.target_id.isdigit():
        answer = Answer.objects.filter(pk=int(event.target_id)).prefetch_related("citations").first()
        special = set(selectors.special_collections(request.user).values_list("pk", flat=True))
        refs = event.details.get("chunks", [])
        chunks = selectors.chunks_by_id(chunk_ids=[ref.get("chunk_id") for ref in refs])
        for ref in refs:
            chunk = chunks.get(ref.get("chunk_id"))
            now = chunk_version(chunk.text) if chunk else None
            # Special-category passages need the special grant here too, officer or not.
            hidden = (
                chunk is not None and bool(chunk.special_categories) and chunk.collection_id not in special
            )
            sources.append(
                {
                    **ref,
                    "text": _("[special-category passage]") if hidden else chunk.text if chunk else "",
                    "unchanged": now == ref.get("version"),
                    "gone": chunk is None,
                }
            )
    audit_record(
        action="audit.view",
        actor=actor_for(request),
        target_type="audit_event",
        target_id=event.seq,
        details={"passages_shown": [s["chunk_id"] for s in sources if s.get("text")]},
    )
    related = []
    if event.correlation_id:
        related = list(
            AuditEvent.objects.filter(correlation_id=event.correlation_id).exclude(pk=event.pk)[:50]
        )
    context = {
        "event": event,
        "details": json.dumps(event.details, indent=2, ensure_ascii=False),
        "answer": answer,
        "sources": sources,
        "related": related,
    }
    return render(request, "compliance/event.html", context)
