from django.contrib import admin

from governance.models import CollectionGrant


@admin.register(CollectionGrant)
class CollectionGrantAdmin(admin.ModelAdmin):
    list_display = ["collection", "user", "role", "created_at"]
    list_filter = ["role", "collection"]
