"""Collection names are unique per owner, not globally: "already exists" must not tell a user the names of
collections they cannot see (issue 13, item 16)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rag", "0009_flag_existing_special_categories"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="collection",
            name="name",
            field=models.CharField(max_length=200),
        ),
        migrations.AddConstraint(
            model_name="collection",
            constraint=models.UniqueConstraint(
                fields=["owner", "name"], name="collection_unique_name_per_owner"
            ),
        ),
    ]
