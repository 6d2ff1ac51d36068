"""Statistics on rag_chunk.search_vector from a ten times larger sample: ANALYZE then keeps the ~10,000 most
frequent lexemes (not ~1,000), and the search statement takes BM25's document frequencies for all of them from
their shares, counting only rarer lexemes in the GIN index (a heap visit per chunk counted: at 1M chunks on this
machine ~80 ms a question before, ~12 ms after). rag.selectors.search.COMMON_LIST keeps common-word dropping and
the loose budget on the ~1,000 most frequent, as before. ANALYZE of rag_chunk samples 300,000 rows instead of
30,000 (2 s at 100k chunks, 7-13 s at 1M here); it runs once here so the list is there before autovacuum's next
pass."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("rag", "0015_answer_prepare_ms")]
    operations = [
        migrations.RunSQL(
            sql="ALTER TABLE rag_chunk ALTER COLUMN search_vector SET STATISTICS 1000",
            reverse_sql="ALTER TABLE rag_chunk ALTER COLUMN search_vector SET STATISTICS -1",
        ),
        migrations.RunSQL(sql="ANALYZE rag_chunk", reverse_sql=migrations.RunSQL.noop),
    ]
