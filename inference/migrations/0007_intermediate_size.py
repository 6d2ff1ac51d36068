"""The MLP's width (config.json intermediate_size): vLLM shards it across tensor-parallel ranks, so the
hardware fit's tensor-parallel size must divide it. The bundled SmolLM2-135M-Instruct: 1,536."""

from django.db import migrations, models

SERVED_NAME = "smollm2-135m"  # inference.local_server.MODEL_NAME, frozen


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("inference", "RegisteredModel").objects.filter(
        served_name=SERVED_NAME, intermediate_size__isnull=True
    ).update(intermediate_size=1536)


class Migration(migrations.Migration):
    dependencies = [("inference", "0006_manifest_status")]
    operations = [
        migrations.AddField(
            model_name="registeredmodel",
            name="intermediate_size",
            field=models.PositiveIntegerField(blank=True, help_text="the MLP's width", null=True),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
