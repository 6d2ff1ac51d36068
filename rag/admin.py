"""The admin of collections and documents. What only a service may change is read-only here: a collection's
owner changes through ``collection_owner_set`` (audited), documents through the document services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from governance.audit import actor_for
from inference import embeddings
from rag.models import Collection, Document
from rag.selectors import can_write, readable_collections, special_collections, writable_collections
from rag.selectors.vectors import embedding_progress
from rag.services.collections import CollectionNameTaken, collection_describe, collection_owner_set
from rag.services.deletion import document_delete


class CollectionForm(forms.ModelForm):
    transfer_to = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, api_key__isnull=True).order_by("username"),
        required=False,
        label=_("Transfer ownership to"),
        help_text=_("Recorded in the audit trail with the owner before and after."),
    )

    class Meta:
        model = Collection
        fields = ["name", "description"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    """Names and owners only: administering collections and grants does not need their contents. The owner
    is read-only; a transfer goes through ``collection_owner_set``, which audits it. Collections are made
    on the portal or through the API (with their records-of-processing entry) and not deleted here (a
    deletion would cascade to grants and policies unaudited)."""

    form = CollectionForm
    list_display = ["name", "owner", "embedding_model", "embedding_state", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["owner", "embedding_model", "embedding_state", "created_at"]

    @admin.display(description=_("Vectors"))
    def embedding_state(self, obj: Collection) -> str:
        """After a change of embedding model: how far re-embedding has come (``manage.py reembed --status``)."""
        rows = embedding_progress(collection_id=obj.pk)
        row = rows[0] if rows else None
        target = embeddings.active_key()
        if row is None or row.chunks == 0:
            return gettext("no documents yet")
        if row.model == target:
            return gettext("current (%(model)s)") % {"model": target}
        return gettext(
            "re-embedding with %(model)s: %(done)d of %(total)d chunks; search uses %(old)s until done"
        ) % {
            "model": target,
            "done": row.done,
            "total": row.chunks,
            "old": row.model,
        }

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Collection, form: Any, change: bool) -> None:
        # Name and description through the audited service (not the form's own save).
        try:
            collection_describe(
                collection_id=obj.pk, name=obj.name, description=obj.description, actor=actor_for(request)
            )
        except (ValueError, CollectionNameTaken) as exc:
            messages.error(request, str(exc))
        new_owner = form.cleaned_data.get("transfer_to")
        if new_owner is not None:
            try:
                collection_owner_set(collection_id=obj.pk, owner=new_owner, actor=actor_for(request))
            except ValueError as exc:
                messages.error(request, str(exc))
            obj.refresh_from_db()


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Documents of the collections the signed-in user may read, like everywhere else: staff status is not
    a licence to read. Read-only: documents change only through the document services (the pipeline writes
    status, counts and hashes; a chunk carries its document's collection for the search ACL, so moving a
    document here would leak it; title and the special-category flags decide what readers without a
    ``special`` grant see). A title marked special-category is hidden from those without the grant, here as
    on the portal. Deleting goes through the one deletion path."""

    list_display = ["shown_title", "collection", "status", "chunk_count", "language", "created_at"]
    list_filter = ["status", "language"]
    search_fields = ["sha256"]  # not the title or file name: they may be special-category
    readonly_fields = [
        "shown_title",
        "special_title",
        "special_declared",
        "collection",
        "original_filename",
        "sha256",
        "size_bytes",
        "file_path",
        "mime_type",
        "status",
        "error",
        "chunk_count",
        "page_count",
        "task_id",
        "processing_started_at",
        "attempts",
        "ingested_at",
        "language",
        "language_detected",
        "uploaded_by",
    ]

    @admin.display(description=_("title"))
    def shown_title(self, obj: Document) -> str:
        if obj.special_title and not getattr(obj, "_may_see_special", False):  # set by the two methods below
            return str(_("(special-category title hidden)"))
        return obj.title

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.readonly_fields)
        if obj is not None and obj.special_title and not self._may_see_special(request, obj):
            fields.remove("original_filename")
        return fields

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._may_see_special = self._may_see_special(request, obj)
            if not obj._may_see_special and obj.special_title:
                # The page title and breadcrumbs print the object: an in-memory mask, never saved (no change
                # permission here, and deletion re-reads the row).
                obj.title = obj.original_filename = str(_("(special-category title hidden)"))
        return obj

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        self._mask(request, changelist.result_list)
        return changelist

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        objs = list(objs)  # the confirmation page prints them; delete_queryset reads the rows afresh
        self._mask(request, objs)
        return super().get_deleted_objects(objs, request)

    @staticmethod
    def _mask(request: HttpRequest, documents: Any) -> None:
        """Hide special-category titles and file names, in memory only, from those without the grant."""
        special = set(special_collections(request.user).values_list("pk", flat=True))
        for obj in documents:
            obj._may_see_special = obj.collection_id in special
            if obj.special_title and not obj._may_see_special:
                obj.title = obj.original_filename = str(_("(special-category title hidden)"))

    @staticmethod
    def _may_see_special(request: HttpRequest, obj: Document) -> bool:
        return special_collections(request.user).filter(pk=obj.collection_id).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # view and delete only

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).filter(collection__in=readable_collections(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads go through the API/CLI so they are hashed, stored and queued

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # As on the API and the portal: deleting needs the right to write the collection, not only to read it.
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or can_write(request.user, obj.collection))

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        # The one deletion path, with the row as stored (get_object may have masked the title in memory).
        document = Document.objects.get(pk=obj.pk)
        if not can_write(request.user, document.collection):
            raise PermissionDenied
        document_delete(document=document, actor=actor_for(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        writable = queryset.filter(collection__in=writable_collections(request.user))
        refused = queryset.count() - writable.count()
        for document in writable:
            document_delete(document=document, actor=actor_for(request))
        if refused:
            messages.error(
                request, f"{refused} document(s) not deleted: you may read but not change their collection."
            )
