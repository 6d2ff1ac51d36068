"""Turkish case folding in the full-text index: Turkish chunks are indexed after ``translate(text, 'Iİ', 'ıi')``,
so "ISPARTA" is stemmed as "ısparta" and "İstanbul" as "istanbul" (PostgreSQL lower-cases I to i in this
locale). A generated column cannot be altered: it is dropped and added again (the table is rewritten once), its
GIN index and its storage setting (migration 0002) with it."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rag", "0013_embedding_models")]
    operations = [
        migrations.RemoveIndex(model_name="chunk", name="chunk_search_vector_gin"),
        migrations.RemoveField(model_name="chunk", name="search_vector"),
        migrations.AddField(
            model_name="chunk",
            name="search_vector",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.contrib.postgres.search.SearchVector(
                    models.Case(
                        models.When(
                            models.Func(
                                models.F("search_config"),
                                template="%(expressions)s = 'turkish'::regconfig",
                                output_field=models.BooleanField(),
                            ),
                            then=models.Func(
                                models.F("text"),
                                models.Value("Iİ"),
                                models.Value("ıi"),
                                function="translate",
                                output_field=models.TextField(),
                            ),
                        ),
                        default=models.F("text"),
                        output_field=models.TextField(),
                    ),
                    config=models.F("search_config"),
                ),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        migrations.AddIndex(
            model_name="chunk",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["search_vector"], name="chunk_search_vector_gin"
            ),
        ),
        migrations.RunSQL(
            sql="ALTER TABLE rag_chunk ALTER COLUMN embedding SET STORAGE MAIN, "
            "ALTER COLUMN search_vector SET STORAGE MAIN",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
