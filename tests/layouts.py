"""Write one document as .md, .txt, .docx or .pdf, the way real files of each kind look.

The PDF is typeset like a printed regulation: lines wrapped at the right margin (inside words and
sentences), first lines of paragraphs indented, a running header and a page number on every page.
"""

from __future__ import annotations

import io
from pathlib import Path

FORMATS = ("md", "txt", "docx", "pdf")
PAGE = (300.0, 330.0)  # small pages: even a short document spans several
MARGIN = 36.0
FONT_SIZE = 10.0


def write_document(folder: Path, stem: str, title: str, paragraphs: list[str], fmt: str,
                   header: str | None = None) -> Path:
    """``paragraphs`` are the body's paragraphs in order (``## `` marks a chapter heading)."""
    path = folder / f"{stem}.{fmt}"
    if fmt == "md":
        path.write_text(f"# {title}\n\n<!-- INFO END -->\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    elif fmt == "txt":
        body = [p.removeprefix("## ") for p in paragraphs]
        path.write_bytes(("\r\n".join([title, "", *body]) + "\r\n").encode("gb18030"))
    elif fmt == "docx":
        path.write_bytes(_docx(title, paragraphs))
    elif fmt == "pdf":
        path.write_bytes(pdf_bytes(title, paragraphs, header if header is not None else title))
    else:
        raise ValueError(fmt)
    return path


def _docx(title: str, paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)
    for paragraph in paragraphs:
        if paragraph.startswith("## "):
            document.add_heading(paragraph[3:], level=1)
        else:
            document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def wrap(text: str, width: float, font: str, size: float, indent: float = 0.0) -> list[str]:
    """Break ``text`` into printed lines no wider than ``width`` points, anywhere (as CJK typesetting does)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    current = ""
    available = width - indent
    for ch in text:
        if current and stringWidth(current + ch, font, size) > available:
            lines.append(current)
            current, available = "", width
        current += ch
    if current:
        lines.append(current)
    return lines


def pdf_bytes(title: str, paragraphs: list[str], header: str, first_page_header: bool = True) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font = "STSong-Light"
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=PAGE)
    page_width, page_height = PAGE
    text_width = page_width - 2 * MARGIN
    page = 0
    y = 0.0

    def new_page() -> float:
        nonlocal page
        if page:
            pdf.showPage()
        page += 1
        pdf.setFont(font, 7)
        if page > 1 or first_page_header:
            pdf.drawCentredString(page_width / 2, page_height - 20, header)
        pdf.drawCentredString(page_width / 2, 16, f"- {page} -")
        return page_height - MARGIN - 8

    def line(text: str, x: float, size: float = FONT_SIZE, centred: bool = False) -> None:
        nonlocal y
        if y < MARGIN + size:
            y = new_page()
        pdf.setFont(font, size)
        if centred:
            pdf.drawCentredString(page_width / 2, y, text)
        else:
            pdf.drawString(x, y, text)
        y -= size * 1.6

    y = new_page()
    for piece in wrap(title, text_width, font, 14):
        line(piece, MARGIN, 14, centred=True)
    for paragraph in paragraphs:
        if paragraph.startswith("## "):
            line(paragraph[3:], MARGIN, FONT_SIZE, centred=True)
            continue
        indent = 2 * FONT_SIZE
        for n, piece in enumerate(wrap(paragraph, text_width, font, FONT_SIZE, indent)):
            line(piece, MARGIN + (indent if n == 0 else 0))
    pdf.save()
    return buffer.getvalue()


def pdf_page_texts(data: bytes) -> list[str]:
    """The raw text layer, page by page (what the reader gets before reflowing)."""
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]
