from __future__ import annotations

from django.conf import settings
from django.db import models


class CollectionGrant(models.Model):
    """Gives a user access to a collection besides its owner. No grant, no access."""

    class Role(models.TextChoices):
        READER = "reader"
        EDITOR = "editor"

    collection = models.ForeignKey("rag.Collection", on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collection_grants"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "user"], name="grant_unique_user_per_collection")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} {self.collection_id}"
