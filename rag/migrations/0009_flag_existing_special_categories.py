"""Flag the passages and titles stored before special categories existed (rag 0007/0008 added the columns
empty): the same term lists as ingestion (governance.special), over title, heading and text."""

from typing import Any

from django.db import migrations

BATCH = 1000


def flag(apps: Any, schema_editor: Any) -> None:
    from governance.special import special_categories_in

    document_model = apps.get_model("rag", "Document")
    chunk_model = apps.get_model("rag", "Chunk")
    titles = {}
    for document in document_model.objects.only(
        "id", "title", "original_filename", "special_declared"
    ).iterator():
        titles[document.pk] = (document.title, document.special_declared)
        if special_categories_in(f"{document.title}\n{document.original_filename}"):
            document_model.objects.filter(pk=document.pk).update(special_title=True)
    changed = []
    for chunk in chunk_model.objects.only("id", "document_id", "section", "text").iterator(chunk_size=BATCH):
        title, declared = titles.get(chunk.document_id, ("", False))
        found = special_categories_in(f"{title}\n{chunk.section}\n{chunk.text}") or (
            ["declared"] if declared else []
        )
        if found:
            chunk.special_categories = found
            changed.append(chunk)
        if len(changed) >= BATCH:
            chunk_model.objects.bulk_update(changed, ["special_categories"])
            changed = []
    if changed:
        chunk_model.objects.bulk_update(changed, ["special_categories"])


class Migration(migrations.Migration):
    dependencies = [("rag", "0008_special_title")]

    operations = [migrations.RunPython(flag, migrations.RunPython.noop)]
