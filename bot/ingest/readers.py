"""Turn a file (.md, .txt, .docx, .pdf) into plain text, or raise IngestError."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from charset_normalizer import from_bytes

from bot.ingest.models import IngestError
from bot.ingest.pdftext import key, reflow_pages

TEXT_SUFFIXES = {".md", ".txt"}


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), else GB18030/GBK and other encodings, detected."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # GB18030 is a superset of GBK and GB2312, by far the most common legacy encoding here.
        text = data.decode("gb18030")
        if _looks_chinese(text):
            return text
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise IngestError("无法识别文本编码")
    return str(best)


def _looks_chinese(text: str) -> bool:
    sample = text[:2000]
    cjk = sum(1 for ch in sample if "\u4e00" <= ch <= "\u9fff")
    return cjk >= max(1, len(sample.strip()) // 10)


def read_docx(data: bytes) -> str:
    """Paragraph text of a .docx, headings kept as markdown headings, tables as lines."""
    import docx  # python-docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"不是有效的 Word 文档（{type(exc).__name__}）") from exc
    except Exception as exc:  # lxml and others raise assorted errors on damaged files
        raise IngestError(f"Word 文档已损坏（{type(exc).__name__}）") from exc
    lines: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name or "") if para.style is not None else ""
        if style.startswith("Title"):
            lines.append(f"# {text}")
        elif style.startswith("Heading"):
            level = style.rsplit(" ", 1)[-1]
            depth = int(level) + 1 if level.isdigit() else 2
            lines.append("#" * min(depth, 4) + " " + text)
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append("　".join(cells))
    return "\n\n".join(lines)


def read_pdf(data: bytes) -> str:
    """The text layer of a PDF, reflowed (see :mod:`bot.ingest.pdftext`)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise IngestError("PDF 已加密，无法读取")
            except Exception as exc:
                raise IngestError("PDF 已加密，无法读取") from exc
        pages: list[str] = []
        positions: list[dict[str, list[float]]] = []
        for page in reader.pages:
            text, heights = _page_text(page)
            pages.append(text)
            positions.append(heights)
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"PDF 文件已损坏（{type(exc).__name__}）") from exc
    if not any(page.strip() for page in pages):
        raise IngestError("PDF 没有文字层（可能是扫描件）")
    return reflow_pages(pages, positions)


def _page_text(page) -> tuple[str, dict[str, list[float]]]:
    """A page's text and the heights on the page of each line drawn as one piece (for headers and footers)."""
    heights: dict[str, list[float]] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        line = text.strip()
        if line and "\n" not in line:
            heights.setdefault(key(line), []).append(cm[1] * tm[4] + cm[3] * tm[5] + cm[5])

    text = page.extract_text(visitor_text=visit) or ""
    return text, heights


def read_file(path: Path) -> tuple[str, bytes]:
    """Return (text, raw bytes) of a supported file; raise IngestError with a reason otherwise."""
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"无法读取文件（{exc.strerror}）") from exc
    if not data.strip():
        raise IngestError("文件为空")
    if suffix in TEXT_SUFFIXES:
        if b"\x00" in data[:4096]:
            raise IngestError("不是文本文件")
        text = decode_text(data)
    elif suffix == ".docx":
        text = read_docx(data)
    elif suffix == ".pdf":
        text = read_pdf(data)
    else:
        raise IngestError(f"不支持的文件类型：{suffix or '无扩展名'}")
    if not text.strip():
        raise IngestError("文件没有可读的文字")
    return text, data
