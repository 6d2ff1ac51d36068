from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from governance.audit import actor_for
from rag.models import Collection, Document
from rag.selectors import readable_collections
from rag.services.deletion import document_delete


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    # Names and owners only: administering collections and grants does not need their contents.
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Documents of the collections the signed-in user may read, like everywhere else: staff status is not
    a licence to read. Status, counts, hashes and the collection are written by the pipeline only (a chunk
    carries its document's collection for the search ACL, so moving a document here would leak it)."""

    list_display = ["title", "collection", "status", "chunk_count", "language", "created_at"]
    list_filter = ["status", "language"]
    search_fields = ["title", "original_filename", "sha256"]
    readonly_fields = [
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).filter(collection__in=readable_collections(request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads go through the API/CLI so they are hashed, stored and queued

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        document_delete(document=obj, actor=actor_for(request))  # the one deletion path

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            document_delete(document=document, actor=actor_for(request))
