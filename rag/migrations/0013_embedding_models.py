"""Vectors record their embedding model, and may have any width.

Until now every vector came from the one configured model (all-MiniLM-L6-v2 unless ``EMBEDDING_MODEL`` named a
folder) into a 384-wide column with one HNSW index. From here each model's vectors carry its key and have their
own partial HNSW index over ``embedding::vector(width)``; a change of model re-embeds beside the old vectors
(``pending_*``) and switches each collection once it is complete (rag.services.vectors). Existing vectors keep
the key of the model that made them, so search goes on using them until their collection is re-embedded.
"""

import hashlib
from pathlib import Path

import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models


def _legacy_key() -> str:
    configured = (getattr(settings, "EMBEDDING_MODEL", "") or "").strip()
    if not configured or configured in ("all-MiniLM-L6-v2", "multilingual-e5-small"):
        return "all-MiniLM-L6-v2"  # the default before this migration
    return Path(configured).expanduser().name


def _index(schema_editor, key: str) -> None:
    # The same index rag.services.vector_indexes.index_create makes (name and expression must agree).
    name = f"chunk_hnsw_{hashlib.sha256(key.encode()).hexdigest()[:12]}_384"
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {name} ON rag_chunk USING hnsw ((embedding::vector(384)) vector_cosine_ops) "
        f"WITH (m = 16, ef_construction = 64) WHERE embedding_model = %s",
        [key],
    )


def label_existing(apps, schema_editor):
    Chunk = apps.get_model("rag", "Chunk")
    Collection = apps.get_model("rag", "Collection")
    # The bundled models (both 384 wide); another configured model's index comes from `vector_indexes`.
    for key in ("multilingual-e5-small", "all-MiniLM-L6-v2"):
        _index(schema_editor, key)
    if not Chunk.objects.exists():
        return
    key = _legacy_key()
    Chunk.objects.update(embedding_model=key)
    Collection.objects.filter(pk__in=Chunk.objects.values("collection_id")).update(embedding_model=key)
    _index(schema_editor, key)


class Migration(migrations.Migration):
    dependencies = [("rag", "0012_conversation_kind")]
    operations = [
        migrations.RemoveIndex(model_name="chunk", name="chunk_embedding_hnsw"),
        migrations.AlterField(
            model_name="chunk", name="embedding", field=pgvector.django.vector.VectorField()
        ),
        migrations.AddField(
            model_name="chunk",
            name="embedding_model",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="chunk",
            name="pending_embedding",
            field=pgvector.django.vector.VectorField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="chunk",
            name="pending_model",
            field=models.CharField(blank=True, db_default="", default="", max_length=200),
        ),
        migrations.AddField(
            model_name="collection",
            name="embedding_model",
            field=models.CharField(blank=True, default="", editable=False, max_length=200),
        ),
        migrations.RunPython(label_existing, migrations.RunPython.noop),
    ]
