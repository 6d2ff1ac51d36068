from django.db import migrations

GROUPS = ["Employees", "Compliance officers"]


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in GROUPS:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("governance", "0004_grants_groups_permissions"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
