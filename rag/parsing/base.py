from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


class ParseError(Exception):
    """The file cannot be read. The message is shown to the person who uploaded it, so write it for them."""


@dataclass(frozen=True)
class Section:
    """A stretch of text that citations can point to: a page of a PDF, a heading's body, a block of rows."""

    text: str
    page: int | None = None
    heading: str = ""


@dataclass
class ParsedDocument:
    sections: list[Section]
    page_count: int | None = None
    title: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)


# Zero-width and bidi control characters hide text from reviewers and from the PII scanner
# ("1\u200b2\u200b3" must match the same patterns as "123"); the soft hyphen splits words invisibly.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
# C0/C1 control characters except tab and newline.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}")


def normalise_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip()
