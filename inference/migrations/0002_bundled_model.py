"""A fresh install answers out of the box: the bundled SmolLM2-135M-Instruct is registered under the name the
bundled vLLM serves it as (inference.local_server.MODEL_NAME), under Apache-2.0, with the default declared use
stored and the verdict computed. The facts are frozen here (published config.json of the model) so the
migration does not depend on the weights being on disk."""

from django.db import migrations
from django.utils import timezone

SERVED_NAME = "smollm2-135m"  # inference.local_server.MODEL_NAME, frozen


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    DeclaredUseRecord = apps.get_model("inference", "DeclaredUseRecord")
    RegisteredModel = apps.get_model("inference", "RegisteredModel")
    # The default declared use and Apache-2.0's verdict for it, frozen (inference.licences as released).
    DeclaredUseRecord.objects.get_or_create(
        pk=1,
        defaults={
            "internal_commercial_use": True,
            "fine_tune_or_distribute_derivatives": False,
            "train_other_models_on_outputs": False,
            "monthly_active_users": 1_000,
            "sector": "",
        },
    )
    RegisteredModel.objects.get_or_create(
        served_name=SERVED_NAME,
        defaults={
            "family": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "params": 134_515_008,
            "layers": 30,
            "hidden_size": 576,
            "kv_heads": 3,
            "head_dim": 64,
            "context_length": 8192,
            "quantization": "bf16",
            "weights_path": "",
            "weights_published": "yes",
            "code_published": "yes",
            "data_published": "yes",
            "licence_id": "apache-2.0",
            "verdict_status": "allowed",
            "verdict_conditions": [],
            "verdict_reasons": [],
            "verdict_computed_at": timezone.now(),
        },
    )


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("inference", "RegisteredModel").objects.filter(served_name=SERVED_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("inference", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
