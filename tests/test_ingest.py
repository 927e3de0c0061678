"""Reading each format and cutting documents into articles and sections."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.ingest import IngestError, discover_files, load_document
from bot.ingest.structure import MAX_CHUNK_CHARS, parse_text
from bot.numerals import normalize_article_label

LAW = """# 示范建设工程条例

2020年1月1日 发布

<!-- INFO END -->

## 第一章 总则

第一条 为了加强管理，制定本条例。

第二条 本条例所称建设工程，是指土木工程、建筑工程。

## 第二章 施工单位的质量责任

### 第一节 一般规定

第三条 施工单位应当按照设计图纸施工，不得偷工减料。

第三条之一 施工单位应当建立质量责任制。

第4条 施工单位有下列义务：

（一）检验建筑材料；

（二）做好隐蔽工程记录。

## 第三章 法律责任

第五条 违反本条例第三条规定，施工单位偷工减料的，处10万元以上20万元以下的罚款。
"""

NOTICE = """关于印发示范工作方案的通知

各有关单位：

现将方案印发给你们，请认真执行。

附件：

示范市建设质量

工作方案

为贯彻落实有关要求，制定本方案。

一、指导思想

坚持质量第一。

二、主要任务

（一）工作目标

到2015年工程质量显著提升。

（二）主要工作任务

1.健全质量责任制度

落实终身责任制。

2.推进精细化管理

推行样板引路。
"""


def test_law_articles_chapters_and_items() -> None:
    parsed = parse_text(LAW, "示范建设工程条例(2020-01-01).md")
    assert parsed.title == "示范建设工程条例"
    assert parsed.date == "2020-01-01"
    labels = [c.label for c in parsed.chunks]
    assert labels == ["第一条", "第二条", "第三条", "第三条之一", "第四条", "第五条"]
    third = parsed.chunks[2]
    assert third.chapter == "第二章 施工单位的质量责任 / 第一节 一般规定"
    assert third.article_no == 3 and not third.penalty
    fourth = parsed.chunks[4]
    assert "（一）检验建筑材料" in fourth.text and "（二）做好隐蔽工程记录" in fourth.text
    assert fourth.text.startswith("第四条")  # Arabic numeral normalised
    assert parsed.chunks[5].penalty and parsed.chunks[5].chapter == "第三章 法律责任"


def test_over_long_article_is_split_at_items_with_its_head_repeated() -> None:
    items = "\n".join(f"（{n}）第{n}项义务，" + "内容" * 60 + "；" for n in "一二三四五六七八")
    text = f"# 长条例\n\n第一条 总则。\n\n第二条 施工单位应当履行下列义务：\n{items}\n\n第三条 附则。\n"
    parsed = parse_text(text, "长条例.md")
    parts = [c for c in parsed.chunks if c.label == "第二条"]
    assert len(parts) > 1
    for part in parts:
        assert part.text.startswith("第二条　施工单位应当履行下列义务：")
        assert len(part.text) <= MAX_CHUNK_CHARS + 200
    joined = "".join(p.text for p in parts)
    for n in "一二三四五六七八":
        assert f"（{n}）第{n}项义务" in joined


def test_notice_sections_and_attachment_title() -> None:
    parsed = parse_text(NOTICE, "通知(2014-07-28).txt")
    assert parsed.title == "示范市建设质量工作方案"
    labels = [c.label for c in parsed.chunks]
    assert labels == ["前言", "一、指导思想", "（一）工作目标", "1.健全质量责任制度", "2.推进精细化管理"]
    task = parsed.chunks[4]
    assert task.chapter == "二、主要任务 / （二）主要工作任务"
    assert "样板引路" in task.text


def test_gbk_text_file_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "示范建设工程条例.txt"
    plain = re.sub(r"^#+ ", "", LAW, flags=re.MULTILINE).replace("<!-- INFO END -->", "")
    path.write_bytes(plain.encode("gbk"))
    doc = load_document(path)
    assert doc.title == "示范建设工程条例"
    assert any("偷工减料" in c.text for c in doc.chunks)
    assert doc.kind == "administrative_regulation"


def test_docx_document(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("示范建设工程条例", level=0)
    document.add_heading("第一章 总则", level=1)
    document.add_paragraph("第一条 为了加强管理，制定本条例。")
    document.add_paragraph("第二条 建设单位不得明示或者暗示施工单位降低工程质量。")
    path = tmp_path / "示范.docx"
    document.save(path)
    doc = load_document(path)
    assert doc.title == "示范建设工程条例"
    assert [c.label for c in doc.chunks] == ["第一条", "第二条"]
    assert doc.chunks[1].chapter == "第一章 总则"


def _pdf_bytes(lines: list[str], password: str | None = None) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setFont("STSong-Light", 12)
    y = 800
    for line in lines:
        pdf.drawString(50, y, line)
        y -= 20
    pdf.save()
    if password is None:
        return buffer.getvalue()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "示范条例(2019-04-23).pdf"
    path.write_bytes(_pdf_bytes(["示范建设工程条例", "第一章 总则", "第一条 为了加强管理，制定本条例。",
                                 "第二条 施工单位应当对工程质量负责。"]))
    doc = load_document(path)
    assert doc.title == "示范建设工程条例"
    assert doc.date == "2019-04-23"
    assert [c.label for c in doc.chunks] == ["第一条", "第二条"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("坏.docx", b"PK\x03\x04 this is not a real zip archive", "Word"),
        ("坏.pdf", b"%PDF-1.4\n garbage without objects", "PDF"),
        ("空.txt", b"   \n", "为空"),
        ("表格.xls", b"\xd0\xcf\x11\xe0 binary", "不支持"),
    ],
)
def test_unreadable_files_are_reported(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as info:
        load_document(path)
    assert reason in str(info.value)


def test_encrypted_pdf_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "加密.pdf"
    path.write_bytes(_pdf_bytes(["第一条 内容。", "第二条 内容。"], password="secret"))
    with pytest.raises(IngestError, match="加密"):
        load_document(path)


def test_discover_skips_readmes_and_data_but_reports_unknown_types(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# 说明", encoding="utf-8")
    (tmp_path / "glossary.yaml").write_text("terms: {}", encoding="utf-8")
    (tmp_path / "条例.md").write_text(LAW, encoding="utf-8")
    (tmp_path / "旧文件.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    files, skipped = discover_files([tmp_path])
    assert [f.name for f in files] == ["条例.md"]
    assert [(p.name, "不支持" in r) for p, r in skipped] == [("旧文件.doc", True)]


def test_article_label_normalisation() -> None:
    assert normalize_article_label("质量条例第30条") == "第三十条"
    assert normalize_article_label("第一百一十四条") == "第一百一十四条"
    assert normalize_article_label("第10条") == "第十条"
    assert normalize_article_label("没有条文") is None


def test_corpus_kinds_titles_and_penalty_chapters() -> None:
    from tests.conftest import CORPUS

    if not CORPUS.exists():
        pytest.skip("../shared/corpus is not beside the project")
    files, skipped = discover_files([CORPUS])
    assert not skipped and len(files) == 19
    docs = {d.title: d for d in (load_document(f) for f in files)}
    quality = docs["建设工程质量管理条例"]
    assert quality.kind == "administrative_regulation"
    assert [c.label for c in quality.chunks if c.article_no == 30] == ["第三十条"]
    assert all(c.penalty for c in quality.chunks if 57 <= (c.article_no or 0) <= 77)
    assert docs["中华人民共和国建筑法"].kind == "law"
    assert docs["广东省建设工程质量管理条例"].kind == "local_regulation"
    interpretation = "最高人民法院关于审理建设工程施工合同纠纷案件适用法律问题的解释（一）"
    assert docs[interpretation].kind == "judicial_interpretation"
    plan = docs["广东省住房城乡建设系统贯彻落实《广东省建设质量强省2014—2015年行动计划》工作方案"]
    assert plan.kind == "notice"
    assert "2.推进施工质量精细化管理" in [c.label for c in plan.chunks]
    # A regulation without a penalty chapter: the sanction articles are still recognised.
    permit = docs["安全生产许可证条例"]
    assert [c.label for c in permit.chunks if c.penalty][:2] == ["第十四条", "第十九条"]
