"""An evaluation run's claim: the worker renews heartbeat_at after each question; a run that stops beating for
EVALUATION_RUN_LEASE_S is queued again, and only the claim's holder completes it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("governance", "0014_evaluation_answer_log")]
    operations = [
        migrations.AddField(
            model_name="evaluationrun",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
