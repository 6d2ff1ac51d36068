"""Turn an uploaded file into normalised text sections.

The format is decided from the file's content first (magic bytes) and its name second, so a PDF renamed to
.txt is still read as a PDF and an executable renamed to .txt is refused.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from rag.parsing import formats
from rag.parsing.base import ParsedDocument, ParseError, Section, normalise_text

__all__ = ["SUPPORTED", "ParseError", "ParsedDocument", "Section", "detect_format", "normalise_text", "parse"]

SUPPORTED: dict[str, tuple[str, Callable[[bytes], ParsedDocument]]] = {
    "pdf": ("application/pdf", formats.read_pdf),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", formats.read_docx),
    "html": ("text/html", formats.read_html),
    "md": ("text/markdown", formats.read_markdown),
    "csv": ("text/csv", formats.read_csv),
    "txt": ("text/plain", formats.read_text),
}
_EXTENSIONS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".markdown": "md",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "txt",
    ".text": "txt",
    ".log": "txt",
    ".rst": "txt",
}
# Magic numbers of common formats we do not read, so the error can name them.
_KNOWN_BINARY = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"MZ": "a Windows executable",
    b"\x7fELF": "a Linux executable",
    b"\xd0\xcf\x11\xe0": "a legacy Office file",
    b"Rar!": "a RAR archive",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
}
SUPPORTED_HINT = "Emanet can read: txt, md, html, pdf, docx, csv."
# A .docx is a zip: refuse one that would inflate past this (zip bombs take the worker down with them).
MAX_UNPACKED_BYTES = 300 * 2**20


def detect_format(data: bytes, filename: str) -> str:
    """Return a key of SUPPORTED or raise ParseError naming what the file is."""
    suffix = Path(filename).suffix.lower()
    head = data[:8]
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
                if unpacked > MAX_UNPACKED_BYTES:
                    raise ParseError(
                        f"The archive unpacks to {unpacked // 2**20} MB, more than the "
                        f"{MAX_UNPACKED_BYTES // 2**20} MB Emanet reads from one document."
                    )
                if "word/document.xml" in archive.namelist():
                    return "docx"
        except zipfile.BadZipFile as exc:
            if suffix == ".docx":
                raise ParseError("The Word file is damaged or is not a .docx document.") from exc
        raise ParseError(f"This is a zip archive or an unsupported Office format. {SUPPORTED_HINT}")
    if suffix in {".pdf", ".docx"}:
        kind = "PDF" if suffix == ".pdf" else "Word"
        raise ParseError(
            f"The file is named {suffix} but its content is not a {kind} document; it may be damaged."
        )
    for magic, label in _KNOWN_BINARY.items():
        if head.startswith(magic):
            raise ParseError(f"Unsupported file type: this is {label}. {SUPPORTED_HINT}")
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if suffix and suffix not in _EXTENSIONS:
        sniff = data[:512].lstrip().lower()
        if sniff.startswith((b"<!doctype html", b"<html")):
            return "html"
        if b"\x00" in data[:4096]:
            raise ParseError(f"Unsupported file type ({suffix}). {SUPPORTED_HINT}")
        raise ParseError(f"Unsupported file type ({suffix}). {SUPPORTED_HINT}")
    return "txt"


def mime_type_for(kind: str) -> str:
    return SUPPORTED[kind][0]


def parse(data: bytes, filename: str) -> tuple[str, ParsedDocument]:
    """Detect, read and normalise. Raises ParseError with a message for people."""
    if not data.strip():
        raise ParseError("The file is empty.")
    kind = detect_format(data, filename)
    parsed = SUPPORTED[kind][1](data)
    sections = [
        Section(text=text, page=section.page, heading=normalise_text(section.heading)[:500])
        for section in parsed.sections
        if (text := normalise_text(section.text))
    ]
    if not sections:
        raise ParseError("The file contains no readable text.")
    parsed.sections = sections
    parsed.title = normalise_text(parsed.title)[:500]
    return kind, parsed
