"""Emanet's own time before the model, per answer: from the request's arrival to the request to the model
server. Null for answers stored before (and for those that never called the model)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rag", "0014_turkish_case_folding")]
    operations = [
        migrations.AddField(
            model_name="answer",
            name="prepare_ms",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
