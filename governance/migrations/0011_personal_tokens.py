"""Personal API tokens, stored hashed (governance.tokens), replace DRF's clear-text ``authtoken`` tokens.

The old tokens are deleted, not carried over: they were stored in clear and listed in the admin, so every one
of them must be taken as known to every administrator. Their owners make new ones (``manage.py
drf_create_token <user>`` or ``POST /api/v1/tokens``). The app ``rest_framework.authtoken`` is no longer
installed; its table and migration records go too (nothing else refers to them)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROP_AUTHTOKEN = """
DROP TABLE IF EXISTS authtoken_token;
DELETE FROM django_migrations WHERE app = 'authtoken';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0010_audit_truncate_guard"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PersonalToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(blank=True, max_length=100)),
                ("prefix", models.CharField(max_length=12, unique=True)),
                ("key_hash", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "revoked_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="personal_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.RunSQL(DROP_AUTHTOKEN, reverse_sql=migrations.RunSQL.noop),
    ]
