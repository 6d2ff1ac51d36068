"""Split sections into token-sized, overlapping chunks that keep their page and heading for citations.

Sizes are counted in the embedding model's own word pieces, so no chunk is silently truncated by the model.
Chunks never cross a page (a citation names one page); small neighbouring sections on the same page are
merged so a heading-rich document does not turn into dozens of one-line chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.parsing import Section

if TYPE_CHECKING:
    from tokenizers import Tokenizer


@dataclass(frozen=True)
class TextChunk:
    text: str
    page: int | None
    section: str
    token_count: int


def _merge_small(sections: list[Section], count: TokenCounter, size: int) -> list[Section]:
    merged: list[Section] = []
    for section in sections:
        if merged:
            last = merged[-1]
            if last.page == section.page and count(last.text) + count(section.text) <= size:
                merged[-1] = Section(
                    text=f"{last.text}\n\n{section.text}", page=last.page, heading=last.heading
                )
                continue
        merged.append(section)
    return merged


class TokenCounter:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)


def _word_offsets(text: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Token spans without the whitespace a SentencePiece token carries in front ("▁word" spans " word"), so
    that the gaps between tokens are where the spaces are, as with WordPiece tokenizers."""
    spans = []
    for start, end in offsets:
        while start < end and text[start].isspace():
            start += 1
        spans.append((start, end))
    return spans


def _boundary(text: str, offsets: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Best token index in (lo, hi] to end a chunk at: paragraph > line > sentence > word > hard cut."""
    best: dict[int, int] = {}
    for index in range(hi - 1, lo, -1):
        gap = text[offsets[index - 1][1] : offsets[index][0]]
        previous = text[offsets[index - 1][0] : offsets[index - 1][1]]
        if "\n\n" in gap:
            return index
        if "\n" in gap:
            best.setdefault(1, index)
        elif gap and previous.endswith((".", "!", "?", ";", ":")):  # SentencePiece may attach it: "▁5."
            best.setdefault(2, index)
        elif gap:
            best.setdefault(3, index)
    for rank in (1, 2, 3):
        if rank in best:
            return best[rank]
    return hi


def chunk_sections(
    sections: list[Section], *, tokenizer: Tokenizer, size: int, overlap: int
) -> list[TextChunk]:
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError("chunk size must be positive and overlap smaller than size")
    count = TokenCounter(tokenizer)
    chunks: list[TextChunk] = []
    for section in _merge_small(sections, count, size):
        text = section.text
        encoding = tokenizer.encode(text, add_special_tokens=False)
        offsets = _word_offsets(text, encoding.offsets)
        total = len(offsets)
        if total == 0:
            continue
        if total <= size:
            chunks.append(TextChunk(text=text, page=section.page, section=section.heading, token_count=total))
            continue
        start = 0
        while start < total:
            hi = min(start + size, total)
            end = hi if hi == total else _boundary(text, offsets, start + size // 2, hi)
            piece = text[offsets[start][0] : offsets[end - 1][1]].strip()
            if piece:
                chunks.append(
                    TextChunk(text=piece, page=section.page, section=section.heading, token_count=end - start)
                )
            if end >= total:
                break
            # Step back by the overlap, then forward to the start of a word so no chunk opens mid-word.
            next_start = max(end - overlap, start + 1)
            while next_start < end and offsets[next_start][0] == offsets[next_start - 1][1]:
                next_start += 1
            start = next_start
    return chunks
