"""One reader per file format. Each returns sections of raw text; normalisation happens afterwards."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from rag.parsing.base import ParsedDocument, ParseError, Section

# Linear-time on any line (a lazy group followed by optional runs was cubic on "# a      ...      b").
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*)$")


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1254 (Turkish) as a last resort."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise ParseError(
            "This file looks binary, not text. Emanet can read txt, md, html, pdf, docx and csv."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1254", errors="replace")


def read_text(data: bytes) -> ParsedDocument:
    return ParsedDocument(sections=[Section(text=decode_text(data))])


def sections_from_markdown(text: str) -> tuple[list[Section], str]:
    """Split at ATX headings; each section carries its heading path ("Policy > Refunds")."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    first_heading = ""
    in_fence = False

    def flush() -> None:
        body = "\n".join(buffer).strip()
        if body:
            sections.append(Section(text=body, heading=" > ".join(title for _, title in path)))
        buffer.clear()

    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            flush()
            level, title = len(match.group(1)), match.group(2).rstrip().rstrip("#").rstrip()
            first_heading = first_heading or title
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            buffer.append(title)  # keep the heading words searchable inside the chunk
        else:
            buffer.append(line)
    flush()
    return sections, first_heading


def read_markdown(data: bytes) -> ParsedDocument:
    sections, title = sections_from_markdown(decode_text(data))
    return ParsedDocument(sections=sections, title=title)


def read_html(data: bytes) -> ParsedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "svg", "head", "nav", "footer", "form"]):
        tag.decompose()
    # Turn headings into markdown headings so one splitter serves both formats.
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for row in soup.find_all("tr"):
        cells = [cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"])]
        row.replace_with(" | ".join(cells) + "\n")
    for block in soup.find_all(["p", "div", "li", "br", "section", "article", "blockquote", "pre"]):
        block.insert_before("\n")
        block.insert_after("\n")
    sections, first_heading = sections_from_markdown(soup.get_text())
    return ParsedDocument(sections=sections, title=title or first_heading)


def read_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PdfStreamError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict printing; those open.
            try:
                if not reader.decrypt(""):
                    raise ParseError("The PDF is password-protected. Upload a copy without a password.")
            except (FileNotDecryptedError, NotImplementedError) as exc:
                raise ParseError("The PDF is password-protected. Upload a copy without a password.") from exc
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                sections.append(Section(text=text, page=number))
        page_count = len(reader.pages)
        title = ""
        try:
            if reader.metadata and reader.metadata.title:
                title = str(reader.metadata.title)
        except (PdfReadError, KeyError, TypeError, ValueError):
            title = ""
    except ParseError:
        raise
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ParseError(f"The PDF file is damaged or is not a PDF ({type(exc).__name__}: {exc}).") from exc
    if page_count and not sections:
        raise ParseError(
            f"The PDF has {page_count} page(s) but no extractable text; it is probably scanned images. "
            "OCR is not supported yet: upload a PDF with a text layer."
        )
    return ParsedDocument(sections=sections, page_count=page_count, title=title)


def read_docx(data: bytes) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ParseError("The Word file is damaged or is not a .docx document.") from exc
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            paragraph = Paragraph(block, document)
            text = paragraph.text.strip()
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if not text:
                continue
            if style == "Title":
                lines.append(f"# {text}")
            elif style.startswith("Heading"):
                level = style.removeprefix("Heading").strip()
                depth = int(level) if level.isdigit() else 1
                lines.append(f"{'#' * min(depth + 1, 6)} {text}")
            else:
                lines.append(text)
        elif tag == "tbl":
            table = Table(block, document)
            for row in table.rows:
                lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    sections, first_heading = sections_from_markdown("\n\n".join(lines))
    title = document.core_properties.title or first_heading
    return ParsedDocument(sections=sections, title=title or "")


CSV_ROWS_PER_SECTION = 50


def read_csv(data: bytes) -> ParsedDocument:
    text = decode_text(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return ParsedDocument(sections=[])
    header, body = rows[0], rows[1:]
    if not body:
        return ParsedDocument(sections=[Section(text=" | ".join(header))])
    sections = []
    for start in range(0, len(body), CSV_ROWS_PER_SECTION):
        block = body[start : start + CSV_ROWS_PER_SECTION]
        # "column: value" keeps each value next to its meaning, for retrieval and for the model.
        lines = [
            "; ".join(f"{name.strip()}: {value.strip()}" for name, value in zip(header, row, strict=False))
            for row in block
        ]
        sections.append(Section(text="\n".join(lines), heading=f"rows {start + 2}–{start + len(block) + 1}"))
    return ParsedDocument(sections=sections)


def title_from_filename(filename: str) -> str:
    stem = Path(filename).stem.replace("_", " ").replace("-", " ").strip()
    return stem or filename
