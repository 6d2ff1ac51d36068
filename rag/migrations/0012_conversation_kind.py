"""The questions an evaluation run asks are conversations of their own kind: kept (the run's results point at
their answers), not listed among the runner's chats."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rag", "0011_document_file_key")]
    operations = [
        migrations.AddField(
            model_name="conversation",
            name="kind",
            field=models.CharField(
                choices=[("chat", "Chat"), ("evaluation", "Evaluation")], default="chat", max_length=12
            ),
        ),
    ]
