"""Builders for real test files (PDF, DOCX, ...) with known contents."""

from __future__ import annotations

import io


def make_pdf(pages: list[str], *, title: str = "", password: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    if password:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    return bytes(pdf.output())


def make_image_only_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    return bytes(pdf.output())


def make_docx(paragraphs: list[tuple[str, str]], *, title: str = "") -> bytes:
    """paragraphs: (style, text) with style '' for body text or 'Heading 1' etc."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for style, text in paragraphs:
        if style.startswith("Heading"):
            document.add_heading(text, level=int(style.split()[-1]))
        else:
            document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
