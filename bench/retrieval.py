"""Retrieval quality through the real search SQL: recall@5/10 and MRR@10 of the dense branch, the lexical branch
and the fused result, on Turkish, English and Turkish→English sets built from Debian's manual pages.

    apt-get install manpages-tr          # the Turkish translations (Debian package; GPL, Turkish Linux project)
    .venv/bin/python bench/retrieval.py [--split dev|test|all] [--rebuild]

The sets (built here from the installed pages, nothing is committed): each Turkish page of `manpages-tr` whose
English page is installed too. A query is the page's one-line description from its NAME section (İSİM), without
the command's name ("dizin içeriğini listeler"); the relevant document is the page itself, indexed without its
NAME section (so the description is not found verbatim). Turkish: Turkish queries over the Turkish pages.
English: the English descriptions over the English pages. Turkish→English: the Turkish descriptions over the
English pages. Pages split in two by a hash of their name: `dev` (tune on it) and `test` (report it).

Each branch is read from one hybrid search (k large enough to return every candidate): the dense ranking is the
hits' vector_rank, the lexical one their text_rank, the fused one the returned order. Document-level: a
query's hit is its page's first chunk in the ranking.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from common import setup_django

MAN = Path("/usr/share/man")
CANDIDATES = 100


@dataclass(frozen=True)
class Page:
    name: str  # "ls.1"
    description: str
    body: str

    @property
    def split(self) -> str:
        return "dev" if hashlib.sha256(self.name.encode()).digest()[0] % 2 == 0 else "test"


def render(path: Path) -> str:
    env = {**os.environ, "MANWIDTH": "100", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": "0"}
    rendered = subprocess.run(  # noqa: S603 - fixed programs, a path under /usr/share/man
        ["/usr/bin/man", "-l", str(path)], capture_output=True, env=env, check=False, timeout=60
    ).stdout
    return subprocess.run(  # noqa: S603
        ["/usr/bin/col", "-b"], input=rendered, capture_output=True, check=False, timeout=60
    ).stdout.decode("utf-8", "replace")


_HEADING = re.compile(r"^\S.*$")


def page(path: Path) -> Page | None:
    """Description (NAME's text after the dash) and the body without the NAME section and the running heads."""
    lines = render(path).splitlines()
    sections: list[tuple[str, list[str]]] = []
    for line in lines[1:]:
        if _HEADING.match(line):
            sections.append((line.strip(), []))
        elif sections:
            sections[-1][1].append(line.strip())
    if not sections:
        return None
    name_text = " ".join(" ".join(sections[0][1]).split())
    if " - " not in name_text:
        return None
    description = name_text.split(" - ", 1)[1].strip()
    body = "\n\n".join(
        heading + "\n" + "\n".join(text) for heading, text in sections[1:] if not heading.isupper() or text
    )
    body = "\n".join(
        line for line in body.splitlines() if not re.match(r"^[\w.-]+\s+\d{4}|^\S.*\(\d\w*\)$", line)
    )
    if len(description) < 8 or len(body) < 200:
        return None
    return Page(path.name.removesuffix(".gz"), description, body.strip())


def pages() -> list[tuple[Page, Page]]:
    """(Turkish page, English page) pairs."""
    pairs = []
    seen: set[str] = set()
    for tr_path in sorted((MAN / "tr").glob("man*/*.gz")):
        en_path = MAN / tr_path.parent.name / tr_path.name
        if not en_path.exists():
            continue
        tr, en = page(tr_path), page(en_path)
        if tr is None or en is None or tr.body in seen or en.body in seen:
            continue  # an alias page (bunzip2 = bzip2): one document, one query
        seen.update((tr.body, en.body))
        pairs.append((tr, en))
    return pairs


def ingest(collection_name: str, docs: list[Page], language: str, user: object, rebuild: bool) -> int:
    from governance.models import ProcessingRecord
    from rag.models import Collection, Document
    from rag.services.documents import document_create
    from rag.services.ingest import document_ingest

    collection, _ = Collection.objects.get_or_create(name=collection_name, defaults={"owner": user})
    ProcessingRecord.objects.update_or_create(
        collection=collection,
        defaults={
            "purpose": "Benchmark: retrieval quality on public manual pages",
            "legal_basis": "legitimate_interest",
            "data_subject_categories": ["none"],
            "data_categories": ["none"],
            "recipients": ["benchmark"],
            "retention_days": 30,
            "special_categories": False,
        },
    )
    ready = Document.objects.filter(collection=collection, status=Document.Status.READY).count()
    if ready == len(docs) and not rebuild:
        from inference import embeddings
        from rag.services.vectors import collection_reembed

        if collection.embedding_model != embeddings.active_key():  # EMBEDDING_MODEL changed: re-embed only
            assert collection_reembed(collection_id=collection.pk)
        return collection.pk
    for document in Document.objects.filter(collection=collection):
        document.delete()
    for doc in docs:
        document, _ = document_create(
            collection=collection,
            uploaded_by=user,
            stream=io.BytesIO(doc.body.encode()),
            filename=f"{doc.name}.txt",
            title=doc.name,
            language=language,
        )
        result = document_ingest(document_id=document.pk, task_id="bench-retrieval")
        assert result is not None and result.status == Document.Status.READY, result and result.error
    return collection.pk


def rankings(user: object, query: str, collection_id: int) -> tuple[dict[str, list[int]], list]:
    """Document ids in rank order for each branch and the fused result (first chunk of a document counts), and
    the hits themselves (for re-fusing offline with other weights)."""
    from rag.selectors.search import chunk_search

    hits = chunk_search(
        user=user, query=query, k=2 * CANDIDATES, collection_ids=[collection_id], candidates=CANDIDATES
    )
    return {
        "dense": documents(sorted((h for h in hits if h.vector_rank), key=lambda h: h.vector_rank)),
        "lexical": documents(sorted((h for h in hits if h.text_rank), key=lambda h: h.text_rank)),
        "fused": documents(hits),
    }, hits


def documents(ordered: list) -> list[int]:
    seen: list[int] = []
    for hit in ordered:
        if hit.document_id not in seen:
            seen.append(hit.document_id)
    return seen


def convex(hits: list, text_weight: float) -> list[int]:
    """Convex combination of min-max normalised scores: similarity and BM25 (missing: the set's minimum)."""
    sims = [h.similarity for h in hits if h.similarity is not None]
    texts = [h.text_score for h in hits if h.text_score is not None]

    def norm(value: float | None, values: list[float]) -> float:
        if value is None or not values or max(values) == min(values):
            return 0.0
        return (value - min(values)) / (max(values) - min(values))

    def score(hit: object) -> float:
        return (1 - text_weight) * norm(hit.similarity, sims) + text_weight * norm(hit.text_score, texts)

    return documents(sorted(hits, key=lambda h: (-score(h), h.vector_rank or 10**6)))


def refuse(hits: list, text_weight: float, k: int) -> list[int]:
    """The fused order search would return with these weights (the SQL's formula, vector weight 1)."""

    def score(hit: object) -> float:
        v = 1 / (k + hit.vector_rank) if hit.vector_rank else 0.0
        t = text_weight / (k + hit.text_rank) if hit.text_rank else 0.0
        return v + t

    return documents(sorted(hits, key=lambda h: (-score(h), h.vector_rank or 10**6)))


def metrics(ranked: list[list[int]], relevant: list[int]) -> dict[str, float]:
    n = len(relevant)
    r5 = sum(1 for r, d in zip(ranked, relevant, strict=True) if d in r[:5]) / n
    r10 = sum(1 for r, d in zip(ranked, relevant, strict=True) if d in r[:10]) / n
    mrr = sum(1 / (r[:10].index(d) + 1) for r, d in zip(ranked, relevant, strict=True) if d in r[:10]) / n
    return {"R@5": r5, "R@10": r10, "MRR@10": mrr}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument("--rebuild", action="store_true", help="ingest the pages again")
    parser.add_argument("--tune", action="store_true", help="also re-fuse with a grid of text weights and k")
    parser.add_argument("--dump", type=Path, help="write every query's hits to this JSON file (for analysis)")
    parser.add_argument(
        "--similarities",
        action="store_true",
        help="percentiles of the relevant and the 10th page's similarity",
    )
    args = parser.parse_args()
    if not (MAN / "tr").is_dir():
        raise SystemExit("The Turkish manual pages are missing: apt-get install manpages-tr")
    setup_django()

    from django.contrib.auth import get_user_model

    from inference import embeddings
    from rag.models import Document

    pairs = pages()
    user, _ = get_user_model().objects.get_or_create(username="bench-retrieval")
    start = time.perf_counter()
    tr_collection = ingest("retrieval-tr", [tr for tr, _ in pairs], "tr", user, args.rebuild)
    en_collection = ingest("retrieval-en", [en for _, en in pairs], "en", user, args.rebuild)
    ingest_s = time.perf_counter() - start
    doc_ids = {
        (collection, document.title): document.pk
        for collection in (tr_collection, en_collection)
        for document in Document.objects.filter(collection_id=collection)
    }
    chosen = [(tr, en) for tr, en in pairs if args.split == "all" or tr.split == args.split]
    print(  # noqa: T201
        f"{len(pairs)} page pairs ({len(chosen)} in split {args.split}); embedding model "
        f"{embeddings.active_key()}; ingest {ingest_s:.0f} s (0 when already ingested)"
    )
    sets = {
        "Turkish": [(tr.description, tr_collection, doc_ids[(tr_collection, tr.name)]) for tr, _ in chosen],
        "English": [(en.description, en_collection, doc_ids[(en_collection, en.name)]) for _, en in chosen],
        "Turkish→English": [
            (tr.description, en_collection, doc_ids[(en_collection, en.name)]) for tr, en in chosen
        ],
    }
    splits = [tr.split for tr, _ in chosen]
    print(f"{'set':18} {'branch':8} {'R@5':>6} {'R@10':>6} {'MRR@10':>7}")  # noqa: T201
    dump: dict[str, list] = {}
    grid = [(w, k) for w in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5) for k in (10, 30, 60)]
    grid += [(w, 0) for w in (0.1, 0.2, 0.3, 0.4, 0.5)]  # k 0: convex combination with text weight w
    tuned: dict[tuple[float, int], list[str]] = {g: [] for g in grid}
    for name, queries in sets.items():
        ranked: dict[str, list[list[int]]] = {"dense": [], "lexical": [], "fused": []}
        refused: dict[tuple[float, int], list[list[int]]] = {g: [] for g in grid}
        relevant_sim, tenth_sim = [], []
        for number, (query, collection, relevant_id) in enumerate(queries):
            orders, hits = rankings(user, query, collection)
            dump.setdefault(name, []).append(
                {
                    "split": splits[number],
                    "query": query,
                    "relevant": relevant_id,
                    "hits": [
                        [h.document_id, h.vector_rank, h.text_rank, h.similarity, h.text_score] for h in hits
                    ],
                }
            )
            for branch, order in orders.items():
                ranked[branch].append(order)
            if args.tune:
                for w, k in grid:
                    refused[(w, k)].append(refuse(hits, w, k) if k else convex(hits, w))
            if args.similarities:
                by_document: dict[int, float] = {}
                for hit in hits:
                    if hit.similarity is not None:
                        by_document[hit.document_id] = max(
                            by_document.get(hit.document_id, -1.0), hit.similarity
                        )
                if relevant_id in by_document:
                    relevant_sim.append(by_document.pop(relevant_id))
                others = sorted(by_document.values(), reverse=True)
                if len(others) >= 10:
                    tenth_sim.append(others[9])
        relevant = [document for _, _, document in queries]
        for branch, orders in ranked.items():
            m = metrics(orders, relevant)
            print(f"{name:18} {branch:8} {m['R@5']:6.3f} {m['R@10']:6.3f} {m['MRR@10']:7.3f}")  # noqa: T201
        for g, orders in refused.items() if args.tune else ():
            m = metrics(orders, relevant)
            tuned[g].append(f"{m['R@10']:.3f}/{m['MRR@10']:.3f}")
        if args.similarities:
            for label, values in (("relevant page", relevant_sim), ("10th other page", tenth_sim)):
                values.sort()
                if values:
                    cuts = [values[int(q * (len(values) - 1))] for q in (0.05, 0.25, 0.5, 0.75, 0.95)]
                    print(
                        f"  similarity of the {label}: p5/p25/p50/p75/p95 "
                        + " ".join(f"{c:.3f}" for c in cuts)
                    )  # noqa: T201
    if args.dump:
        args.dump.write_text(json.dumps(dump))
    if args.tune:
        print("re-fused offline (R@10/MRR@10 per set: " + ", ".join(sets) + "; k 0 = convex combination)")  # noqa: T201
        for (w, k), cells in tuned.items():
            print(f"  text weight {w:4.2f} k {k:3d}: " + "  ".join(cells))  # noqa: T201


if __name__ == "__main__":
    main()
