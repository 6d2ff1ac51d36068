"""Evaluation items can come from the answer log (answered questions and the documents they cited)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("governance", "0013_evaluation")]
    operations = [
        migrations.AlterField(
            model_name="evaluationitem",
            name="source",
            field=models.CharField(
                choices=[
                    ("manual", "Manual"),
                    ("import", "Import"),
                    ("feedback", "Feedback"),
                    ("answer_log", "Answer Log"),
                ],
                default="manual",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="evaluationitem",
            name="source_answer_id",
            field=models.BigIntegerField(
                blank=True, help_text="the answer it came from (👎 feedback or the answer log)", null=True
            ),
        ),
    ]
