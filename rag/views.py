"""The employee portal: server-rendered pages. Reads go through selectors (access rules inside); writes go
through the REST API from the page's JavaScript with the session cookie and CSRF token, so the browser and
internal systems share one code path. A selector's ``NotFound`` is the 404 page (config.middleware); what every
page's base template shows comes from config.context_processors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from governance.audit import actor_for, audit_record
from governance.inventory import entry_of, inventory_missing
from governance.pii.policies import policy_for_collection
from governance.pii.redaction import redact_text
from rag import selectors
from rag.selectors import writable_collections
from rag.services.answers import answer_text_shown, citation_data
from rag.services.collections import CollectionNameTaken, collection_create
from rag.services.search import special_flag


@login_required
def ask(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    conversation = None
    turns: list[dict[str, Any]] = []
    if conversation_id is not None:
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        ratings = selectors.answer_ratings(user=request.user, conversation=conversation)
        policies: dict[int, Any] = {}
        # Citations and answer text re-checked against what the user may read now (in the selector's SQL).
        for answer in selectors.conversation_answers(user=request.user, conversation=conversation):
            turns.append(
                {
                    "answer": answer,
                    "text": answer_text_shown(answer),
                    "withheld": answer.withheld,  # type: ignore[attr-defined]
                    "citations": [citation_data(c, policies) for c in answer.citations.all()],
                    "rating": ratings.get(answer.pk, ""),
                }
            )
    context = {
        "conversation": conversation,
        "turns": turns,
        "collections": selectors.collection_list(user=request.user),
    }
    return render(request, "portal/ask.html", context)


class DocumentsQuery(forms.Form):
    collection = forms.CharField(required=False, max_length=200)  # an id or a name; refuses NUL characters


@login_required
def documents(request: HttpRequest) -> HttpResponse:
    query = DocumentsQuery(request.GET)
    if not query.is_valid():
        raise BadRequest(query.errors.as_text())
    collection = None
    ref = query.cleaned_data["collection"]
    if ref:
        collection = selectors.collection_get(user=request.user, ref=ref)
    context = {
        "documents": selectors.document_list(user=request.user, collection=collection)[:500],
        "collections": selectors.collection_list(user=request.user),
        "selected": collection,
    }
    return render(request, "portal/documents.html", context)


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    """The upload page; a POST creates a collection (owned by the user) to upload into."""
    error = ""
    selected = request.GET.get("collection", "")
    if request.method == "POST":
        try:
            collection = collection_create(
                name=request.POST.get("name", "")[:200], owner=request.user, actor=actor_for(request)
            )
            # It takes uploads once its records-of-processing entry is complete: that comes first.
            return redirect(reverse("processing", args=[collection.pk]))
        except CollectionNameTaken:
            # Names are unique per owner: this speaks only about the user's own collections.
            error = _("A collection of yours with this name already exists.")
        except ValueError:
            error = _("A collection needs a name.")
    collections = list(writable_collections(request.user).select_related("processing").order_by("name"))
    for collection in collections:
        collection.inventory_missing = inventory_missing(entry_of(getattr(collection, "processing", None)))  # type: ignore[attr-defined]
    context = {
        "collections": collections,
        "incomplete": [c for c in collections if c.inventory_missing],  # type: ignore[attr-defined]
        "selected": selected,
        "collection_error": error,
        "max_upload_mb": settings.MAX_UPLOAD_MB,
    }
    return render(request, "portal/upload.html", context, status=400 if error else 200)


@login_required
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get(user=request.user, document_id=document_id)
    chunks = list(selectors.document_chunks(user=request.user, document=document))
    audit_record(
        action="document.view",
        actor=actor_for(request),
        target_type="document",
        target_id=document.pk,
        collection_id=document.collection_id,
        details=special_flag([chunk.pk for chunk in chunks if chunk.special_categories]),
    )
    # The same second pass as search results: chunks kept under an older policy are not shown in clear.
    policy = policy_for_collection(document.collection_id).for_prompt()
    for chunk in chunks:
        chunk.text = redact_text(chunk.text, policy=policy)
        chunk.section = redact_text(chunk.section, policy=policy)
    context = {
        "document": document,
        "chunks": chunks,
        # Deleting goes through DELETE /api/v1/documents/{id} (rag.services.deletion), like every deletion.
        "can_delete": selectors.can_write(request.user, document.collection),
    }
    return render(request, "portal/document.html", context)
