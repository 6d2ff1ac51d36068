from django.contrib import admin

from rag.models import Collection, Document


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    # Status, counts and hashes are written by the ingestion pipeline only.
    list_display = ["title", "collection", "status", "chunk_count", "language", "created_at"]
    list_filter = ["status", "collection", "language"]
    search_fields = ["title", "original_filename", "sha256"]
    readonly_fields = [
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
        "language_detected",
    ]

    def has_add_permission(self, request: object) -> bool:
        return False  # uploads go through the API/portal so they are hashed, stored and queued
