"""Shared set-up for benchmarks: their own embedded PostgreSQL/Redis under .data/bench (or DATABASE_URL)."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

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
