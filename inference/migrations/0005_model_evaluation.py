"""What MODEL_SWITCH_REQUIRES_EVAL needs: the last run of each evaluation set on each model and whether it
passed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("inference", "0004_licence_catalogue")]
    operations = [
        migrations.AddField(
            model_name="registeredmodel",
            name="evaluations",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
