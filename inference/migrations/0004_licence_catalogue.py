"""The licence catalogue becomes editable: one row per licence, seeded from the built-in catalogue as this
release shipped it (inference.licences.CATALOGUE, sources included), frozen in 0004_licences.json so that a
later change to the code cannot change what this migration writes. A registered model's licence_id is then a
key of the catalogue in force, no longer a fixed choice list."""

import json
from pathlib import Path

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

PERMISSIONS = [("allowed", "allowed"), ("conditional", "conditional"), ("forbidden", "forbidden")]


FROZEN = Path(__file__).with_name("0004_licences.json")


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    LicenceEntry = apps.get_model("inference", "LicenceEntry")
    for row in json.loads(FROZEN.read_text(encoding="utf-8")):
        LicenceEntry.objects.get_or_create(
            key=row["key"], defaults={**row["columns"], "builtin": True, "shipped": row["shipped"]}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0003_shape_facts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    operations = [
        migrations.CreateModel(
            name="LicenceEntry",
            fields=[
                (
                    "key",
                    models.CharField(
                        help_text="e.g. apache-2.0",
                        max_length=60,
                        primary_key=True,
                        serialize=False,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[a-z0-9][a-z0-9._-]*$",
                                "lower-case letters, digits, dots, hyphens and underscores, e.g. llama-3.1-community",
                            )
                        ],
                    ),
                ),
                ("title", models.CharField(max_length=300)),
                ("commercial_use", models.CharField(choices=PERMISSIONS, max_length=12)),
                ("commercial_use_condition", models.TextField(blank=True)),
                ("derivatives", models.CharField(choices=PERMISSIONS, max_length=12)),
                ("derivatives_condition", models.TextField(blank=True)),
                ("outputs_to_train_other_models", models.CharField(choices=PERMISSIONS, max_length=12)),
                ("outputs_to_train_other_models_condition", models.TextField(blank=True)),
                (
                    "user_threshold_mau",
                    models.BigIntegerField(
                        blank=True,
                        help_text="above this many monthly active users a separate licence is needed",
                        null=True,
                    ),
                ),
                ("user_threshold_commercial_use_only", models.BooleanField(default=False)),
                ("user_threshold_text", models.TextField(blank=True)),
                ("acceptable_use_policy", models.CharField(blank=True, help_text="URL", max_length=500)),
                ("attribution", models.CharField(blank=True, max_length=300)),
                ("derivative_name_prefix", models.CharField(blank=True, max_length=100)),
                (
                    "notices",
                    models.JSONField(
                        blank=True, default=list, help_text="further conditions, one string each"
                    ),
                ),
                (
                    "sources",
                    models.JSONField(
                        default=list, help_text='[{"fact": "commercial_use", "url": "https://…"}, …]'
                    ),
                ),
                (
                    "builtin",
                    models.BooleanField(default=False, editable=False, help_text="shipped with Emanet"),
                ),
                (
                    "shipped",
                    models.JSONField(
                        blank=True,
                        editable=False,
                        help_text="a built-in licence's text as Emanet shipped it",
                        null=True,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["key"], "verbose_name": "licence"},
        ),
        migrations.AlterField(
            model_name="registeredmodel",
            name="licence_id",
            field=models.CharField(help_text="a key of the licence catalogue", max_length=60),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
