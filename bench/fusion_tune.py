"""Choose the fusion weights on the development split, then show them on the test split.

    .venv/bin/python bench/retrieval.py --split all --dump .data/bench/retrieval.json
    .venv/bin/python bench/fusion_tune.py .data/bench/retrieval.json

Re-fuses every query's hits (each hit's vector and full-text rank, as `chunk_search` returned them) with weighted
reciprocal-rank fusion for a grid of (text weight, k), one text weight for all questions or one for questions
with Turkish letters and one for the others. The rule: the largest *margin* on the development split — the
smallest difference, over the three sets and R@5/R@10/MRR@10, between the fused result and the better branch
alone — ties broken by the mean MRR@10. The test split is only printed, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

TURKISH = re.compile("[çğıöşüÇĞİÖŞÜ]")
Metrics = tuple[float, float, float]


def documents(order: list[int]) -> list[int]:
    seen: list[int] = []
    for document in order:
        if document not in seen:
            seen.append(document)
    return seen


def metrics(runs: list[tuple[list[int], int]]) -> Metrics:
    n = len(runs)
    r5 = sum(1 for ranked, rel in runs if rel in ranked[:5]) / n
    r10 = sum(1 for ranked, rel in runs if rel in ranked[:10]) / n
    mrr = sum(1 / (ranked[:10].index(rel) + 1) for ranked, rel in runs if rel in ranked[:10]) / n
    return r5, r10, mrr


def rrf(hits: list[list[Any]], text_weight: float, k: int) -> list[int]:
    def score(hit: list[Any]) -> float:
        return (1 / (k + hit[1]) if hit[1] else 0.0) + (text_weight / (k + hit[2]) if hit[2] else 0.0)

    return documents([h[0] for h in sorted(hits, key=lambda h: (-score(h), h[1] or 10**6))])


def branch(hits: list[list[Any]], index: int) -> list[int]:
    return documents([h[0] for h in sorted((h for h in hits if h[index]), key=lambda h: h[index])])


def evaluate(data: dict[str, list], split: str, fuse: Callable[[dict], list[int]]) -> dict[str, tuple]:
    out = {}
    for name, queries in data.items():
        chosen = [q for q in queries if q["split"] == split]
        out[name] = tuple(
            metrics([(rank(q), q["relevant"]) for q in chosen])
            for rank in (lambda q: branch(q["hits"], 1), lambda q: branch(q["hits"], 2), fuse)
        )
    return out


def margin(result: dict[str, tuple]) -> float:
    return min(f[i] - max(d[i], lx[i]) for d, lx, f in result.values() for i in range(3))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dump", type=Path)
    args = parser.parse_args()
    data = json.loads(args.dump.read_text())
    configs: list[tuple[str, Callable[[dict], list[int]]]] = []
    for k in (10, 30, 60):
        for w in (0.25, 0.5, 0.75, 1.0, 1.5):
            configs.append((f"all {w:.2f}        k {k}", lambda q, w=w, k=k: rrf(q["hits"], w, k)))
        for tr in (0.5, 0.75, 1.0):
            for other in (0.25, 0.5):
                configs.append(
                    (
                        f"tr {tr:.2f} other {other:.2f} k {k}",
                        lambda q, tr=tr, other=other, k=k: rrf(
                            q["hits"], tr if TURKISH.search(q["query"]) else other, k
                        ),
                    )
                )
    rows = []
    for label, fuse in configs:
        dev, test = evaluate(data, "dev", fuse), evaluate(data, "test", fuse)
        mean_mrr = sum(v[2][2] for v in dev.values()) / len(dev)
        rows.append((margin(dev), mean_mrr, label, margin(test), test))
    rows.sort(reverse=True)
    print("weights (text; k)           dev margin  dev mean MRR  test margin")  # noqa: T201
    for dev_margin, mean_mrr, label, test_margin, _ in rows[:10]:
        print(f"{label:27} {dev_margin:+10.3f} {mean_mrr:13.3f} {test_margin:+12.3f}")  # noqa: T201
    _, _, label, _, test = rows[0]
    print(f"\nchosen: {label}; test split, R@5 / R@10 / MRR@10:")  # noqa: T201
    for name, (dense, lexical, fused) in test.items():
        for branch_name, m in (("dense", dense), ("lexical", lexical), ("fused", fused)):
            print(f"  {name:16} {branch_name:8} {m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f}")  # noqa: T201


if __name__ == "__main__":
    main()
