from __future__ import annotations

import pytest

from rag.parsing import ParseError, detect_format, normalise_text, parse
from tests.files import make_docx, make_image_only_pdf, make_pdf


def test_normalise_strips_zero_width_and_control_characters() -> None:
    dirty = "TC\u200bKN 1\u200c2\u200d3\ufeff4\x00\x07 and\u00adsoft\r\nnext\x1bline\n\n\n\nend"
    assert normalise_text(dirty) == "TCKN 1234 andsoft\nnextline\n\nend"


def test_normalise_composes_turkish_characters() -> None:
    decomposed = "s\u0327u\u0308kru\u0308"  # ş, ü written as base letter + combining mark
    assert normalise_text(decomposed) == "şükrü"


def test_pdf_pages_are_kept_for_citations() -> None:
    data = make_pdf(["First page about apples.", "Second page about pears."], title="Fruit")
    kind, parsed = parse(data, "fruit.pdf")
    assert kind == "pdf"
    assert [(s.page, s.text) for s in parsed.sections] == [
        (1, "First page about apples."),
        (2, "Second page about pears."),
    ]
    assert parsed.page_count == 2
    assert parsed.title == "Fruit"


def test_docx_headings_become_sections() -> None:
    data = make_docx(
        [("Heading 1", "Leave"), ("", "Twenty days a year."), ("Heading 2", "Carry over"), ("", "Five days.")]
    )
    kind, parsed = parse(data, "hr.docx")
    assert kind == "docx"
    headings = [s.heading for s in parsed.sections]
    assert headings == ["Leave", "Leave > Carry over"]
    assert "Twenty days a year." in parsed.sections[0].text


def test_html_drops_scripts_and_keeps_headings() -> None:
    html = b"<html><head><title>T</title><script>alert(1)</script></head><body><h1>Rules</h1><p>Be kind.</p></body></html>"
    kind, parsed = parse(html, "page.html")
    assert kind == "html"
    assert parsed.title == "T"
    assert "alert" not in parsed.text
    assert parsed.sections[0].heading == "Rules"


def test_markdown_sections_follow_heading_path() -> None:
    kind, parsed = parse(b"# A\nintro\n## B\nbody\n```\n# not a heading\n```\n", "x.md")
    assert kind == "md"
    assert [s.heading for s in parsed.sections] == ["A", "A > B"]
    assert "# not a heading" in parsed.sections[1].text


def test_csv_rows_keep_column_names() -> None:
    kind, parsed = parse("name;city\nAyşe;İzmir\nJohn;London\n".encode(), "people.csv")
    assert kind == "csv"
    assert parsed.sections[0].text == "name: Ayşe; city: İzmir\nname: John; city: London"
    assert parsed.sections[0].heading == "rows 2–3"


def test_turkish_windows_encoding_is_read() -> None:
    _, parsed = parse("Çalışanların izin hakkı".encode("cp1254"), "izin.txt")
    assert parsed.text == "Çalışanların izin hakkı"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.txt", "The file is empty."),
        (b"   \n\t ", "blank.txt", "The file is empty."),
        (b"%PDF-1.7\n this is not really a pdf", "broken.pdf", "damaged"),
        (b"hello", "fake.pdf", "not a PDF document"),
        (b"\x89PNG\r\n\x1a\n0000", "photo.png", "PNG image"),
        (b"MZ\x90\x00\x03", "setup.txt", "Windows executable"),
        (b"some bytes", "archive.xyz", r"Unsupported file type \(\.xyz\)"),
    ],
)
def test_bad_files_raise_a_readable_reason(data: bytes, name: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(data, name)


def test_password_protected_pdf_is_refused_with_a_reason() -> None:
    data = make_pdf(["secret"], password="s3cret")
    with pytest.raises(ParseError, match="password-protected"):
        parse(data, "locked.pdf")


def test_scanned_pdf_without_text_layer_is_explained() -> None:
    with pytest.raises(ParseError, match="no extractable text"):
        parse(make_image_only_pdf(), "scan.pdf")


def test_content_wins_over_file_name() -> None:
    assert detect_format(make_pdf(["x"]), "renamed.txt") == "pdf"


@pytest.mark.timeout(30)  # the old, cubic pattern took hours on this line
def test_pathological_heading_line_parses_in_linear_time() -> None:
    line = "# a" + " " * 20000 + "b\n" + "## Title ##\nbody"
    _, parsed = parse(line.encode(), "evil.md")
    assert parsed.sections[-1].heading.endswith("Title")


def test_zip_bomb_docx_is_refused_before_unpacking() -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:document>" + b" " * (320 * 2**20) + b"</w:document>")
    with pytest.raises(ParseError, match="unpacks to"):
        parse(buffer.getvalue(), "bomb.docx")
