"""Portal pages of the compliance section: records of processing, data-subject requests, retention.

Thin: each page calls the same services as the API (governance.inventory, governance.compliance.subjects,
.retention)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters

from governance.access import can_edit_inventory
from governance.audit import actor_for, audit_record
from governance.compliance.inventory import inventory_rows
from governance.compliance.retention import retention_preview, retention_run
from governance.compliance.subjects import (
    IDENTIFIERS,
    SubjectRequestError,
    export_as_read_by,
    is_overdue,
    subject_request_approve,
    subject_request_create,
    subject_request_reject,
    subject_request_retry,
)
from governance.inventory import (
    FIELDS,
    LIST_FIELDS,
    InventoryError,
    LegalBasis,
    inventory_data,
    inventory_entry,
    inventory_set,
)
from governance.models import DestructionRecord, ProcessingRecord, SubjectRequest
from governance.permissions import compliance_officer_required
from governance.special import CATEGORIES
from rag.selectors import inventory_collection
from rag.selectors.lifecycle import collections_without_retention

# --- records of processing -------------------------------------------------------------------------------


@login_required
def collection_processing(request: HttpRequest, collection_id: int) -> HttpResponse:
    """A collection's records-of-processing entry: readers see it, its owner, administrators and compliance
    officers change it."""

    collection = inventory_collection(request.user, collection_id)
    if collection is None:
        raise Http404(_("No such collection."))
    can_edit = can_edit_inventory(request.user, collection)
    errors: dict[str, str] = {}
    message, status = "", 200
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(
                _("Only the collection's owner, an administrator or a compliance officer may change it.")
            )
        data: dict[str, Any] = {
            name: request.POST.get(name, "") for name in FIELDS if name != "special_categories"
        }
        for name in LIST_FIELDS:
            data[name] = [line for line in request.POST.get(name, "").splitlines()]
        data["special_categories"] = request.POST.get("special_categories") == "on"
        try:
            inventory_set(collection_id=collection.pk, data=data, actor=actor_for(request), user=request.user)
            message = _("Saved.")
        except InventoryError as exc:
            errors, status = exc.errors, 400
            message = _("Not saved: correct the fields marked below.")
    entry = inventory_data(inventory_entry(collection.pk))
    context = {
        "collection": collection,
        "entry": entry,
        "lists": {name: "\n".join(entry[name]) for name in LIST_FIELDS},
        "legal_bases": LegalBasis.choices,
        "erasure_scopes": ProcessingRecord.ErasureScope.choices,
        "can_edit": can_edit,
        "errors": errors,
        "message": message,
    }
    return render(request, "portal/processing.html", context, status=status)


@compliance_officer_required
def compliance_inventory(request: HttpRequest) -> HttpResponse:
    return render(request, "compliance/inventory.html", {"rows": inventory_rows()})


# --- data-subject requests -------------------------------------------------------------------------------

IDENTIFIER_LABELS = {
    "tckn": gettext_lazy("T.C. kimlik no"),
    "vkn": gettext_lazy("Tax number (VKN)"),
    "email": gettext_lazy("E-mail"),
    "phone": gettext_lazy("Phone"),
    "iban": gettext_lazy("IBAN"),
    "name": gettext_lazy("Full name"),
}


@sensitive_post_parameters(*IDENTIFIERS, "note")
@compliance_officer_required
def compliance_requests(request: HttpRequest) -> HttpResponse:
    """The list (overdue ones flagged) and the form that opens a request."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        identifiers = {name: request.POST.get(name, "").strip() for name in IDENTIFIERS}
        try:
            created = subject_request_create(
                kind=request.POST.get("kind", ""),
                identifiers={name: value for name, value in identifiers.items() if value},
                note=request.POST.get("note", ""),
                include_special=request.POST.get("include_special") == "on",
                user=request.user,
                actor=actor_for(request),
            )
            return redirect(reverse("compliance-request", args=[created.pk]))
        except SubjectRequestError as exc:
            errors = exc.errors
    requests = list(SubjectRequest.objects.select_related("requested_by", "approved_by")[:300])
    for item in requests:
        item.overdue = is_overdue(item)  # type: ignore[attr-defined]
    context = {
        "requests": requests,
        "identifiers": [(name, IDENTIFIER_LABELS[name]) for name in IDENTIFIERS],
        "errors": errors,
        "posted": request.POST if errors else {},
    }
    return render(request, "compliance/requests.html", context, status=400 if errors else 200)


@compliance_officer_required
def compliance_request(request: HttpRequest, request_id: int) -> HttpResponse:
    found = SubjectRequest.objects.select_related("requested_by", "approved_by").filter(pk=request_id).first()
    if found is None:
        raise Http404(_("No such request."))
    message = ""
    if request.method == "POST":
        action, actor = request.POST.get("action"), actor_for(request)
        try:
            if action == "approve":
                subject_request_approve(request=found, user=request.user, actor=actor)
            elif action == "reject":
                subject_request_reject(
                    request=found, user=request.user, actor=actor, reason=request.POST.get("reason", "")
                )
            elif action == "retry":
                subject_request_retry(request=found, user=request.user, actor=actor)
            return redirect(reverse("compliance-request", args=[found.pk]))
        except SubjectRequestError as exc:
            message = str(exc)
    result = found.result
    if result and found.kind == SubjectRequest.Kind.ACCESS:
        # Special-category passages released by another officer's grant stay with that officer.
        result = export_as_read_by(result, request=found, reader=request.user)
    if request.GET.get("download") and result:
        audit_record(
            action="subject_request.view",
            actor=actor_for(request),
            target_type="subject_request",
            target_id=found.pk,
            details={"kind": found.kind, "download": True},
        )
        response = HttpResponse(
            json.dumps(result, ensure_ascii=False, indent=2), content_type="application/json"
        )
        name = "export" if found.kind == SubjectRequest.Kind.ACCESS else "erasure-receipt"
        response["Content-Disposition"] = f'attachment; filename="emanet-{name}-{found.pk}.json"'
        return response
    if found.result:
        audit_record(
            action="subject_request.view",
            actor=actor_for(request),
            target_type="subject_request",
            target_id=found.pk,
            details={"kind": found.kind},
        )
    context = {
        "item": found,
        "overdue": is_overdue(found),
        "result": result,
        "result_json": json.dumps(result, ensure_ascii=False, indent=2) if result else "",
        "can_approve": found.status == SubjectRequest.Status.AWAITING_APPROVAL
        and found.requested_by_id != request.user.pk,
        "message": message,
    }
    return render(request, "compliance/request.html", context, status=409 if message else 200)


# --- retention -------------------------------------------------------------------------------------------


@compliance_officer_required
def compliance_retention(request: HttpRequest) -> HttpResponse:
    """The dry run (what the next run destroys), a button to run it now, and the destruction records."""
    message = ""
    if request.method == "POST":
        run = retention_run(actor=actor_for(request))
        message = (
            _("A retention run is already in progress.")
            if run.already_running
            else _(
                "Destroyed %(documents)d document(s), %(chunks)d passage(s) and %(conversations)d conversation(s)."
            )
            % {"documents": len(run.documents), "chunks": run.chunks, "conversations": run.conversations}
        )
    context = {
        "preview": retention_preview(),
        "idle_conversations": retention_run(dry_run=True).conversations,
        "unbounded": collections_without_retention(),
        "conversation_days": settings.CONVERSATION_RETENTION_DAYS,
        "records": DestructionRecord.objects.all()[:200],
        "message": message,
        "categories": CATEGORIES,
    }
    return render(request, "compliance/retention.html", context)
