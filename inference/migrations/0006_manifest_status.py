"""Large weights are hashed by a worker after the registration: the manifest's status."""

from django.db import migrations, models


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    RegisteredModel = apps.get_model("inference", "RegisteredModel")
    RegisteredModel.objects.exclude(weights_manifest={}).update(manifest_status="complete")


class Migration(migrations.Migration):
    dependencies = [("inference", "0005_model_evaluation")]
    operations = [
        migrations.AddField(
            model_name="registeredmodel",
            name="manifest_status",
            field=models.CharField(
                default="none",
                help_text="none (no weights on this host), pending (a worker is hashing them), complete, failed",
                max_length=10,
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
