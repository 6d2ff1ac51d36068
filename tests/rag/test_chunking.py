from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.embeddings import tokenizer
from rag.chunking import chunk_sections
from rag.parsing import Section

WORDS = ["policy", "refund", "İstanbul", "çalışan", "leave", "annual", "30", "days", "müşteri", "data."]


def count(text: str) -> int:
    return len(tokenizer().encode(text, add_special_tokens=False).ids)


def test_short_section_is_one_chunk_with_its_page_and_heading() -> None:
    chunks = chunk_sections(
        [Section("Hello world.", page=3, heading="Intro")], tokenizer=tokenizer(), size=50, overlap=10
    )
    assert [(c.text, c.page, c.section) for c in chunks] == [("Hello world.", 3, "Intro")]
    assert chunks[0].token_count == count("Hello world.")


def test_long_text_is_split_with_overlap_at_sentence_boundaries() -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(200))
    chunks = chunk_sections([Section(text)], tokenizer=tokenizer(), size=64, overlap=16)
    assert len(chunks) > 5
    for chunk in chunks:
        assert count(chunk.text) <= 64
        assert chunk.text.endswith(".")  # ended at a sentence, not mid-word
    # Consecutive chunks share text (the overlap), so a fact on a boundary is never lost.
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first.text.split()[-1] in second.text


def test_chunks_never_cross_pages() -> None:
    sections = [Section("alpha " * 10, page=1), Section("beta " * 10, page=2)]
    chunks = chunk_sections(sections, tokenizer=tokenizer(), size=200, overlap=20)
    assert [c.page for c in chunks] == [1, 2]


def test_small_sections_on_one_page_are_merged() -> None:
    sections = [Section("One.", heading="A"), Section("Two.", heading="B"), Section("Three.", heading="C")]
    chunks = chunk_sections(sections, tokenizer=tokenizer(), size=200, overlap=20)
    assert len(chunks) == 1
    assert chunks[0].section == "A"
    assert chunks[0].text == "One.\n\nTwo.\n\nThree."


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_sections([Section("x")], tokenizer=tokenizer(), size=10, overlap=10)


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=600),
    size=st.integers(min_value=16, max_value=120),
    overlap_ratio=st.floats(min_value=0, max_value=0.5),
)
def test_every_word_lands_in_a_chunk_and_no_chunk_exceeds_the_size(
    words: list[str], size: int, overlap_ratio: float
) -> None:
    text = " ".join(words)
    chunks = chunk_sections(
        [Section(text)], tokenizer=tokenizer(), size=size, overlap=int(size * overlap_ratio)
    )
    assert all(c.token_count <= size and count(c.text) <= size for c in chunks)
    covered = " ".join(c.text for c in chunks)
    assert set(re.findall(r"\S+", text)) <= set(re.findall(r"\S+", covered))
