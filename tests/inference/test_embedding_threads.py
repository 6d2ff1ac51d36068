"""A web process embeds one short question at a time: gunicorn's worker hook caps torch's threads
(EMBEDDING_WEB_THREADS), so concurrent requests and a CPU model server on the same cores do not make each other
wait on spinning threads (bench/ask.py measures the difference)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from config.gunicorn import post_worker_init
from inference import embeddings


@pytest.fixture
def torch_threads() -> Iterator[int]:
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_gunicorn_workers_embed_with_the_configured_threads(torch_threads: int, settings: Any) -> None:
    settings.EMBEDDING_WEB_THREADS = 1
    post_worker_init(object())
    assert torch.get_num_threads() == 1


def test_zero_keeps_torchs_default(torch_threads: int) -> None:
    embeddings.threads_limit(0)
    assert torch.get_num_threads() == torch_threads
