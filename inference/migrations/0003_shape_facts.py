"""Two facts a hardware fit needs that the registry did not keep: the attention (query) heads, which bound the
tensor-parallel size, and the embedding parameters, which fp8/int8/AWQ/GPTQ keep at 16 bits. The bundled
SmolLM2-135M-Instruct gets them from its published config.json (9 heads; tied embeddings 49,152 x 576)."""

from django.db import migrations, models

SERVED_NAME = "smollm2-135m"  # inference.local_server.MODEL_NAME, frozen


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("inference", "RegisteredModel").objects.filter(
        served_name=SERVED_NAME, heads__isnull=True
    ).update(heads=9, embedding_params=49_152 * 576)


class Migration(migrations.Migration):
    dependencies = [("inference", "0002_bundled_model")]
    operations = [
        migrations.AddField(
            model_name="registeredmodel",
            name="heads",
            field=models.PositiveIntegerField(blank=True, help_text="attention (query) heads", null=True),
        ),
        migrations.AddField(
            model_name="registeredmodel",
            name="embedding_params",
            field=models.BigIntegerField(
                blank=True, help_text="token embeddings + an untied lm_head (vocab x hidden each)", null=True
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
