"""Hybrid search: vector and full text fused in one statement, the access rule inside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from inference import embeddings
from rag.language import QUERY_CONFIGS, SEARCH_CONFIGS
from rag.selectors.access import collection_ids_sql
from rag.selectors.vectors import searchable_models


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: int
    collection_id: int
    title: str
    page: int | None
    section: str
    text: str
    score: float
    vector_rank: int | None
    text_rank: int | None
    similarity: float | None
    special_categories: tuple[str, ...] = ()
    embedding_model: str | None = None  # the model whose similarity this is (None: a full-text hit only)
    text_score: float | None = None  # BM25 (None: not among the full-text candidates)


# Special-category chunks (KVKK Art. 6) only for readers with a ``special`` grant on their collection; in every
# branch of the statement, next to the collection filter.
SPECIAL_FILTER = (
    "AND (cardinality(ch.special_categories) = 0 OR ch.collection_id IN (SELECT id FROM special_allowed))"
)


def _named(sql: str, values: list[Any], prefix: str, params: dict[str, Any]) -> str:
    """The access SQL uses positional %s; turn it into named parameters of this statement."""
    for index, value in enumerate(values):
        params[f"{prefix}{index}"] = value
        sql = sql.replace("%s", f"%({prefix}{index})s", 1)
    return sql


# Weighted reciprocal-rank fusion, chosen on the development split of bench/retrieval.py by bench/fusion_tune.py
# (the largest margin over the better branch on every dev set and metric): one full-text weight for all
# questions came out ahead of separate weights for questions with and without Turkish letters (kept
# configurable: TEXT_WEIGHT_TURKISH applies to questions with Turkish letters).
RRF_K = 30
VECTOR_WEIGHT = 1.0
TEXT_WEIGHT = 0.75
TEXT_WEIGHT_TURKISH = 0.75
_TURKISH_LETTERS = re.compile("[çğıöşüÇĞİÖŞÜ]")
BM25_K1 = 1.2
BM25_B = 0.75
EXACT_BOOST = 2.0
DF_CAP = 5000
MATCH_CAP = 5000
# One heap visit (a chunk's page) against one entry of the collection index: what the lexical branch's choice
# of plan weighs (EXPLAIN ANALYZE at 100k and 1M chunks here: ~3-7 µs against ~0.1-0.15 µs).
HEAP_VISIT_COST = 30
MAX_QUERY_WORDS = 32
COMMON_SHARE = 0.10
COMMON_MIN_CHUNKS = 2000
# How many of the statistics' most frequent lexemes make "the most-common list" that common-word dropping and
# the loose budget read (ANALYZE keeps ~10 per statistics target point: 1,000 at the default of 100).
COMMON_LIST = 1000
LOOSE_BUDGET = 0.05
_WORD = re.compile(r"\w+")
# An identifier rather than a word: has a digit or an underscore, or capitals after its first letter.
_IDENTIFIER = re.compile(r"\w*[\d_]\w*|\w+[A-ZÇĞİÖŞÜ]\w*")

# One statement: access filter, HNSW cosine top-N per embedding model, BM25 full-text top-N, weighted
# reciprocal-rank fusion. hnsw.iterative_scan lets the index keep scanning until enough rows pass the access
# filter (pgvector 0.8), so a user with access to a small collection still gets k results and never another
# collection's, as long as they are found within hnsw.max_scan_tuples index tuples (HNSW_MAX_SCAN_TUPLES): a
# user who may read only a tiny share of millions of chunks gets fewer vector hits (the full-text side is
# unaffected).
#
# Full text: each query word becomes the OR of its lexemes under every query configuration (a question is
# stemmed the ways the documents may be; Turkish folded I → ı, İ → i first, as Turkish chunks are indexed);
# words that are a stop word in any of those languages are dropped, and so are words in more than
# COMMON_SHARE of all chunks (ANALYZE's statistics: the corpus's own stop words carry no signal and would make
# the text branch score most of the table). Candidates are the chunks containing every kept word ("strict");
# only when fewer than N do, also those containing any of the rarest words, taken rarest first until their
# estimated shares add up to LOOSE_BUDGET ("loose", behind a one-time filter), so the broad OR scan stays
# bounded to a few percent of the table. Candidates are ranked by BM25 (k1, b; IDF from document frequencies:
# ANALYZE's share for the most common lexemes, counted in the GIN index for the rest), identifier-like words
# boosted. Neither side's cost grows with how much the user may read (see strict_ids).
_READABLE_COUNT = """
-- Few readable chunks (up to exact_max): an exact scan of just those, which cannot miss any. Many: the HNSW
-- index with an iterative scan, filtered by the same ACL while it walks the graph. Only one branch runs (each
-- is gated by a one-time filter on the count). The lexical branch weighs its plans with it too.
-- Counted from the documents' chunk counts (a handful of rows), not by touching the chunks.
readable_count AS (
    SELECT COALESCE(sum(d.chunk_count), 0) AS n
    FROM rag_document d WHERE d.collection_id = ANY(ARRAY(SELECT id FROM allowed)) {doc_scope}
),
"""

# One model's nearest neighbours. Its vectors have their own partial HNSW index over embedding::vector(width)
# (rag.services.vector_indexes): the model filter and the cast below are that index's predicate and expression.
_MODEL_VECTOR_CTE = """
vector_hits_{i} AS (
    SELECT id, row_number() OVER (ORDER BY distance) AS rank, 1 - distance AS similarity, {i} AS model
    FROM (
        (SELECT ch.id, (ch.embedding::vector({dims})) <=> %(vec{i})s::vector({dims}) AS distance
         FROM rag_chunk ch
         WHERE (SELECT n FROM readable_count) > %(exact_max)s AND ch.embedding_model = %(model{i})s
           AND ch.collection_id IN (SELECT id FROM allowed) {scope}
         ORDER BY (ch.embedding::vector({dims})) <=> %(vec{i})s::vector({dims})
         LIMIT %(candidates)s)
        UNION ALL
        (SELECT ch.id, (ch.embedding::vector({dims})) <=> %(vec{i})s::vector({dims}) AS distance
         FROM rag_chunk ch
         WHERE (SELECT n FROM readable_count) <= %(exact_max)s AND ch.embedding_model = %(model{i})s
           -- = ANY(ARRAY(...)): an index condition on collection_id (a bitmap scan of just those chunks)
           AND ch.collection_id = ANY(ARRAY(SELECT id FROM allowed)) {scope}
         ORDER BY ((ch.embedding::vector({dims})) <=> %(vec{i})s::vector({dims})) + 0  -- not an index order
         LIMIT %(candidates)s)
    ) nearest
),
"""


def _vector_ctes(queries: list[tuple[str, Any]], params: dict[str, Any], *, scope: str) -> str:
    """The ACL-filtered nearest neighbours under each model in use (usually one; two while a collection is
    being re-embedded), merged by rank into ``vector_hits`` (id, rank, similarity, model index). They read
    ``readable_count``, which the statement defines before them."""
    parts = []
    for i, (key, vector) in enumerate(queries):
        params[f"model{i}"] = key
        params[f"vec{i}"] = "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
        parts.append(_MODEL_VECTOR_CTE.format(i=i, dims=int(len(vector)), scope=scope))
    union = " UNION ALL ".join(f"SELECT * FROM vector_hits_{i}" for i in range(len(queries)))  # noqa: S608 — numbered CTE names
    parts.append(
        "vector_hits AS (SELECT id, row_number() OVER (ORDER BY rank, similarity DESC) AS rank, similarity, "  # noqa: S608
        f"model FROM ({union}) merged),\n"
    )
    return "".join(parts)


_HYBRID_SQL = """
WITH allowed AS ({allowed}),
special_allowed AS ({special_allowed}),
{readable_count}stats AS (
    SELECT s.most_common_elems::text::text[] AS lexemes, s.most_common_elem_freqs AS shares
    FROM pg_stats s
    WHERE s.schemaname = current_schema() AND s.tablename = 'rag_chunk' AND s.attname = 'search_vector'
      -- In a small corpus every word is "common": use the statistics only when they describe enough chunks.
      AND (SELECT reltuples FROM pg_class WHERE oid = 'rag_chunk'::regclass) >= %(common_min_chunks)s
),
-- The statistics' most-common lexemes with their shares. All of them give BM25 its document frequencies; the
-- common_list most frequent (all of them at the default statistics target) are "the most-common list" below.
lexeme_shares AS (
    SELECT known.lexeme AS known_lexeme, known.share,
           rank() OVER (ORDER BY known.share DESC) <= %(common_list)s AS listed
    FROM stats CROSS JOIN LATERAL unnest(stats.lexemes, stats.shares) AS known(lexeme, share)
    WHERE known.lexeme IS NOT NULL
),
-- A lexeme missing from the most-common list is rarer than the least common one on it.
rarest_share AS (
    SELECT COALESCE((SELECT min(share) FROM lexeme_shares WHERE listed), 0) AS share
),
-- Stem the question the ways the readable documents were stemmed: simple/english/turkish always, plus the
-- configuration of every other language present among the readable documents.
query_configs AS (
    SELECT cfg FROM unnest(%(configs)s::text[]) AS cfg
    UNION
    SELECT map.cfg
    FROM (SELECT DISTINCT d.language FROM rag_document d
          WHERE d.collection_id IN (SELECT id FROM allowed) AND d.status = 'ready' {doc_scope}) present
    JOIN unnest(%(language_codes)s::text[], %(language_configs)s::text[]) AS map(code, cfg)
      ON map.code = present.language
),
word_lexemes AS (
    SELECT words.ord, cfg, lexeme, known.share AS known_share,
           CASE WHEN known.listed THEN known.share ELSE (SELECT share FROM rarest_share) END AS share
    FROM unnest(%(words)s::text[]) WITH ORDINALITY AS words(word, ord)
    CROSS JOIN query_configs
    -- Folded as Turkish chunks are indexed (rag.models.Chunk.search_vector): I → ı, İ → i.
    CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector(cfg::regconfig,
        CASE WHEN cfg = 'turkish' THEN translate(words.word, 'Iİ', 'ıi') ELSE words.word END))) AS lexeme
    -- One hash of the statistics' ~1,000 lexemes, not a scan of them per query lexeme.
    LEFT JOIN lexeme_shares known ON known.known_lexeme = lexeme
),
kept_words AS (
    SELECT ord, string_agg(DISTINCT quote_literal(lexeme), ' | ') AS alternatives, max(share) AS share
    FROM word_lexemes
    GROUP BY ord
    HAVING count(DISTINCT cfg) = (SELECT count(*) FROM query_configs) AND max(share) <= %(common_share)s
),
loose_words AS (
    SELECT ord, alternatives
    FROM (SELECT ord, alternatives, share, sum(share) OVER (ORDER BY share, ord) AS running FROM kept_words) ranked
    WHERE running - share < %(loose_budget)s
),
query AS (
    SELECT COALESCE((SELECT string_agg('(' || alternatives || ')', ' & ') FROM kept_words), '')::tsquery AS all_q,
           COALESCE((SELECT string_agg(alternatives, ' | ') FROM loose_words), '')::tsquery AS loose_q
),
-- BM25. Document frequency of each lexeme: one in the statistics (the ~1,000 most frequent lexemes of ANALYZE's
-- sample at the default statistics target; 10,000 at rag_chunk.search_vector's) is its share there times N;
-- any other is counted from the GIN index, a heap visit per chunk counted, cheap as those are rarer than the
-- least common listed one. Either way capped at
-- df_cap (past that a word is common and its IDF small either way). N from the planner's row count; below
-- common_min_chunks that may be stale (0 once autovacuum saw an empty table, -1 before any) and the table
-- is counted, up to common_min_chunks rows. Identifier-like words (digits, underscores, capitals inside:
-- "Z-12", "strcpy_s", "KVKK") weigh exact_boost times as much.
terms AS (
    SELECT w.ord, w.lexeme,
           CASE WHEN w.known_share IS NOT NULL
                THEN least(round(w.known_share * (SELECT reltuples FROM pg_class
                                                  WHERE oid = 'rag_chunk'::regclass)), %(df_cap)s)
                ELSE (SELECT count(*) FROM (SELECT 1 FROM rag_chunk c2
                                            WHERE c2.search_vector @@ quote_literal(w.lexeme)::tsquery
                                            LIMIT %(df_cap)s) m)
           END AS df
    FROM (SELECT DISTINCT ord, lexeme, known_share FROM word_lexemes WHERE ord IN (SELECT ord FROM kept_words)) w
),
corpus AS (
    SELECT greatest((SELECT CASE WHEN reltuples >= %(common_min_chunks)s THEN reltuples
                                 ELSE (SELECT count(*) FROM (SELECT 1 FROM rag_chunk LIMIT %(common_min_chunks)s) c)
                            END
                     FROM pg_class WHERE oid = 'rag_chunk'::regclass),
                    (SELECT max(df) FROM terms), 1)::float8 AS n
),
term_idf AS (
    SELECT t.ord, t.lexeme,
           ln(1 + (corpus.n - t.df + 0.5) / (t.df + 0.5))
           * CASE WHEN t.ord = ANY(%(exact_words)s::bigint[]) THEN %(exact_boost)s ELSE 1 END AS idf
    FROM terms t, corpus
),
-- Chunks containing every kept word ("strict"); only when fewer than N do, chunks containing any of the rarest
-- words ("loose", behind a one-time filter). Each side scores at most match_cap chunks: the lexical branch's
-- cost is bounded by that, not by how much the user may read. The loose side leaves out the strict matches by
-- id (all of them are in strict_ids when it runs), without reading their search vectors again.
-- The access filter is never a join to the readable collections (the planner would rescan the matches once
-- per collection) but one of two plans, chosen per side with a one-time filter (the other side of the UNION
-- ALL does not run): ANDing the full-text index's matches with the collection index's rows for the readable
-- collections ("bitmap", then a heap visit per readable match), or checking the collection at each full-text
-- match's heap visit ("filter", "+ 0" keeps the collection index out). Both walk the table in the same order
-- and keep the same first match_cap rows. A heap visit costs about heap_visit_cost index entries: filter visits
-- up to least(matches, match_cap / readable share) rows, bitmap reads all readable entries of the collection
-- index then visits least(readable matches, match_cap); the matches are bounded above by the words' df (AND:
-- the least; OR: the sum; unknown past df_cap).
-- Each match keeps its length (distinct lexemes) and just the query's lexemes with their positions (term
-- frequency = number of positions): setweight marks them, ts_filter keeps them. So the matches are read once,
-- and what is kept of each for scoring is a handful of entries, not its whole search vector.
query_lexemes AS (SELECT array_agg(DISTINCT lexeme) AS lexemes FROM terms),
word_bounds AS (
    SELECT ord, CASE WHEN max(df) < %(df_cap)s THEN sum(df) ELSE 'Infinity'::float8 END AS bound
    FROM terms GROUP BY ord
),
lexical_plan AS (
    SELECT bounds.strict_bound, bounds.loose_bound, sizes.readable, sizes.total,
           least(bounds.strict_bound, %(match_cap)s * sizes.total / sizes.readable)
           < sizes.readable / %(heap_visit_cost)s
             + least(bounds.strict_bound * sizes.readable / sizes.total, %(match_cap)s) AS strict_filter,
           least(bounds.loose_bound, %(match_cap)s * sizes.total / sizes.readable)
           < sizes.readable / %(heap_visit_cost)s
             + least(bounds.loose_bound * sizes.readable / sizes.total, %(match_cap)s) AS loose_filter
    FROM (SELECT COALESCE((SELECT min(bound) FROM word_bounds), 'Infinity')::float8 AS strict_bound,
                 COALESCE((SELECT sum(bound) FROM word_bounds WHERE ord IN (SELECT ord FROM loose_words)),
                          'Infinity')::float8 AS loose_bound) bounds,
         (SELECT greatest(n, 1)::float8 AS readable,
                 greatest((SELECT reltuples FROM pg_class WHERE oid = 'rag_chunk'::regclass), n, 1)::float8 AS total
          FROM readable_count) sizes
),
strict_ids AS (
    (SELECT ch.id, length(ch.search_vector) AS dl,
            ts_filter(setweight(ch.search_vector, 'A', query_lexemes.lexemes), '{{a}}') AS sv
     FROM rag_chunk ch, query, query_lexemes
     WHERE NOT (SELECT strict_filter FROM lexical_plan)
       AND ch.search_vector @@ query.all_q AND ch.collection_id = ANY(ARRAY(SELECT id FROM allowed)) {scope}
     LIMIT %(match_cap)s)
    UNION ALL
    (SELECT ch.id, length(ch.search_vector) AS dl,
            ts_filter(setweight(ch.search_vector, 'A', query_lexemes.lexemes), '{{a}}') AS sv
     FROM rag_chunk ch, query, query_lexemes
     WHERE (SELECT strict_filter FROM lexical_plan)
       AND ch.search_vector @@ query.all_q AND ch.collection_id + 0 = ANY(ARRAY(SELECT id FROM allowed)) {scope}
     LIMIT %(match_cap)s)
),
loose_ids AS (
    (SELECT ch.id, length(ch.search_vector) AS dl,
            ts_filter(setweight(ch.search_vector, 'A', query_lexemes.lexemes), '{{a}}') AS sv
     FROM rag_chunk ch, query, query_lexemes
     WHERE (SELECT count(*) FROM strict_ids) < %(candidates)s AND NOT (SELECT loose_filter FROM lexical_plan)
       AND ch.search_vector @@ query.loose_q AND ch.id NOT IN (SELECT id FROM strict_ids)
       AND ch.collection_id = ANY(ARRAY(SELECT id FROM allowed)) {scope}
     LIMIT %(match_cap)s)
    UNION ALL
    (SELECT ch.id, length(ch.search_vector) AS dl,
            ts_filter(setweight(ch.search_vector, 'A', query_lexemes.lexemes), '{{a}}') AS sv
     FROM rag_chunk ch, query, query_lexemes
     WHERE (SELECT count(*) FROM strict_ids) < %(candidates)s AND (SELECT loose_filter FROM lexical_plan)
       AND ch.search_vector @@ query.loose_q AND ch.id NOT IN (SELECT id FROM strict_ids)
       AND ch.collection_id + 0 = ANY(ARRAY(SELECT id FROM allowed)) {scope}
     LIMIT %(match_cap)s)
),
matched AS (SELECT id, dl, sv FROM strict_ids UNION ALL SELECT id, dl, sv FROM loose_ids),
average AS (SELECT greatest(avg(dl), 1)::float8 AS dl FROM matched),
-- The best lexeme of each query word counts.
term_scores AS (
    SELECT m.id, max(ti.idf * x.tf * (%(bm25_k1)s + 1)
                     / (x.tf + %(bm25_k1)s * (1 - %(bm25_b)s + %(bm25_b)s * m.dl / average.dl))) AS best
    FROM matched m CROSS JOIN average
    CROSS JOIN LATERAL (SELECT u.lexeme, cardinality(u.positions)::float8 AS tf FROM unnest(m.sv) u) x
    JOIN term_idf ti ON ti.lexeme = x.lexeme
    GROUP BY m.id, ti.ord
),
scored AS (
    SELECT m.id, COALESCE(s.score, 0) AS score
    FROM matched m LEFT JOIN (SELECT id, sum(best) AS score FROM term_scores GROUP BY id) s ON s.id = m.id
),
text_hits AS (
    SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank, score
    FROM (SELECT id, score FROM scored ORDER BY score DESC, id LIMIT %(candidates)s) best
),
{vector_ctes}
fused AS (
    SELECT COALESCE(v.id, t.id) AS id, v.rank AS vector_rank, t.rank AS text_rank, v.similarity, v.model,
           t.score AS text_score,
           COALESCE(%(vector_weight)s / (%(rrf_k)s + v.rank), 0)
           + COALESCE(%(text_weight)s / (%(rrf_k)s + t.rank), 0) AS score
    FROM vector_hits v FULL OUTER JOIN text_hits t ON v.id = t.id
)
SELECT ch.id, ch.document_id, ch.collection_id, d.title, ch.page, ch.section, ch.text,
       f.score, f.vector_rank, f.text_rank, f.similarity, ch.special_categories, f.model, f.text_score
FROM fused f
JOIN rag_chunk ch ON ch.id = f.id
JOIN rag_document d ON d.id = ch.document_id
ORDER BY f.score DESC, f.vector_rank NULLS LAST, ch.id
LIMIT %(k)s
"""


def chunk_search(
    *,
    user: Any,
    query: str,
    k: int = 10,
    collection_ids: list[int] | None = None,
    candidates: int | None = None,
    ef_search: int | None = None,
) -> list[SearchHit]:
    """Hybrid search over the chunks ``user`` may read; ``collection_ids`` narrows further, never widens."""
    query = query.strip()
    if not query:
        return []
    candidates = candidates or max(4 * k, 40)
    ef_search = max(ef_search or settings.HNSW_EF_SEARCH, candidates)
    queries = [(key, embeddings.embed_query(query, key=key)) for key in searchable_models()]
    words = _WORD.findall(query)[:MAX_QUERY_WORDS]
    allowed_sql, allowed_params = collection_ids_sql(user)
    scope = SPECIAL_FILTER + (" AND ch.collection_id = ANY(%(scope)s)" if collection_ids is not None else "")
    params: dict[str, Any] = {
        "words": words,
        "exact_words": [i + 1 for i, word in enumerate(words) if _IDENTIFIER.fullmatch(word)],
        "exact_boost": EXACT_BOOST,
        "df_cap": DF_CAP,
        "match_cap": MATCH_CAP,
        "heap_visit_cost": HEAP_VISIT_COST,
        "bm25_k1": BM25_K1,
        "bm25_b": BM25_B,
        "vector_weight": VECTOR_WEIGHT,
        "text_weight": TEXT_WEIGHT_TURKISH if _TURKISH_LETTERS.search(query) else TEXT_WEIGHT,
        "configs": list(QUERY_CONFIGS),
        "language_codes": list(SEARCH_CONFIGS),
        "language_configs": list(SEARCH_CONFIGS.values()),
        "candidates": candidates,
        "rrf_k": RRF_K,
        "common_share": COMMON_SHARE,
        "common_min_chunks": COMMON_MIN_CHUNKS,
        "common_list": COMMON_LIST,
        "loose_budget": LOOSE_BUDGET,
        "k": k,
        "scope": collection_ids or [],
        "exact_max": settings.SEARCH_EXACT_MAX_CHUNKS,
    }
    allowed = _named(allowed_sql, allowed_params, "acl", params)
    special_allowed = _named(*collection_ids_sql(user, "special"), "special", params)
    doc_scope = "AND d.collection_id = ANY(%(scope)s)" if collection_ids is not None else ""
    sql = _HYBRID_SQL.format(
        allowed=allowed,
        special_allowed=special_allowed,
        scope=scope,
        doc_scope=doc_scope,
        readable_count=_READABLE_COUNT.format(doc_scope=doc_scope),
        vector_ctes=_vector_ctes(queries, params, scope=scope),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', %s, true), set_config('hnsw.max_scan_tuples', %s, true)",
            [str(ef_search), str(settings.HNSW_MAX_SCAN_TUPLES)],
        )
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        SearchHit(
            chunk_id=row[0],
            document_id=row[1],
            collection_id=row[2],
            title=row[3],
            page=row[4],
            section=row[5],
            text=row[6],
            score=float(row[7]),
            vector_rank=row[8],
            text_rank=row[9],
            similarity=float(row[10]) if row[10] is not None else None,
            special_categories=tuple(row[11] or ()),
            embedding_model=queries[row[12]][0] if row[12] is not None else None,
            text_score=float(row[13]) if row[13] is not None else None,
        )
        for row in rows
    ]


def chunk_vector_search(
    *, user: Any, vector: Any, k: int, ef_search: int | None = None, key: str | None = None
) -> list[tuple[int, float]]:
    """The vector half of chunk_search alone, for one model's vectors — (chunk id, similarity), nearest first —
    for benchmarks that measure its recall against an exact filtered scan."""
    allowed_sql, allowed_params = collection_ids_sql(user)
    params: dict[str, Any] = {"candidates": k, "exact_max": settings.SEARCH_EXACT_MAX_CHUNKS}
    allowed = _named(allowed_sql, allowed_params, "acl", params)
    special_allowed = _named(*collection_ids_sql(user, "special"), "special", params)
    vector_ctes = (
        (
            _READABLE_COUNT.format(doc_scope="")
            + _vector_ctes([(key or embeddings.active_key(), vector)], params, scope=SPECIAL_FILTER)
        )
        .rstrip()
        .rstrip(",")
    )
    sql = (
        f"WITH allowed AS ({allowed}), special_allowed AS ({special_allowed}),{vector_ctes}"  # noqa: S608 — constant fragments; values are bound
        " SELECT id, similarity FROM vector_hits ORDER BY rank"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', %s, true), set_config('hnsw.max_scan_tuples', %s, true)",
            [str(max(ef_search or settings.HNSW_EF_SEARCH, k)), str(settings.HNSW_MAX_SCAN_TUPLES)],
        )
        cursor.execute(sql, params)
        return [(row[0], float(row[1])) for row in cursor.fetchall()]
