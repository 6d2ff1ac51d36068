"""Shared set-up for benchmarks: their own embedded PostgreSQL/Redis under .data/bench (or DATABASE_URL)."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATA_DIR", str(ROOT / ".data" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("CELERY_QUEUE", "emanet-bench")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


WORDS = (
    "policy employee contract invoice payment customer supplier warehouse shipment refund leave salary "
    "audit compliance security password access network server backup incident report meeting budget "
    "project deadline training safety equipment maintenance inspection quality risk insurance claim "
    "travel expense hotel flight vehicle fuel office building parking visitor badge laptop software"
).split()


class Vocabulary:
    """Zipf-distributed words (after stop-word removal real text is roughly Zipf with s ~ 1), so full-text
    selectivity looks like a real corpus: a few words are everywhere, most are rare."""

    def __init__(self, size: int = 20_000, seed: int = 5) -> None:
        import numpy as np

        rng = np.random.default_rng(seed)
        syllables = [c + v for c in "bcdfghjklmnprstvyz" for v in "aeiou"]
        words: list[str] = list(WORDS)
        seen = set(words)
        while len(words) < size:
            word = "".join(rng.choice(syllables, size=int(rng.integers(2, 5))))
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = np.array(words)
        ranks = np.arange(1, size + 1)
        weights = 1.0 / (ranks + 2.7) ** 1.07
        self.probabilities = weights / weights.sum()
        tail = weights.copy()
        tail[:50] = 0  # questions are made of content words, not the corpus's most common ones
        self.query_probabilities = tail / tail.sum()
        self.rng = rng

    def texts(self, count: int, words: int) -> list[str]:
        picks = self.rng.choice(len(self.words), size=(count, words), p=self.probabilities)
        return [" ".join(self.words[row]) for row in picks]

    def question(self, words: int) -> str:
        """A few domain words (what the vectors were built from, so the query embedding lands among the
        chunks, as a real question does) and content words from the Zipf tail (what full text matches)."""
        domain = self.rng.choice(WORDS, size=2, replace=False)
        picks = self.rng.choice(
            len(self.words), size=max(1, words - 2), p=self.query_probabilities, replace=False
        )
        return " ".join([*domain, *self.words[picks]])


def paragraph(rng: object, words: int) -> str:
    import random

    assert isinstance(rng, random.Random)
    sentences = []
    remaining = words
    while remaining > 0:
        length = min(remaining, rng.randint(8, 20))
        sentence = " ".join(rng.choice(WORDS) for _ in range(length))
        sentences.append(sentence.capitalize() + ".")
        remaining -= length
    return " ".join(sentences)


def bench_inventory(collection: Any) -> None:
    """Benchmark collections get a complete records-of-processing entry (uploads need one)."""
    from governance.models import ProcessingRecord

    ProcessingRecord.objects.get_or_create(
        collection=collection,
        defaults={
            "purpose": "benchmark",
            "legal_basis": "legitimate_interest",
            "data_subject_categories": ["none (synthetic text)"],
            "data_categories": ["none"],
            "recipients": ["none"],
            "retention_days": 30,
        },
    )
