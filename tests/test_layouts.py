"""Real document layouts, each written as .md, .txt, .docx and .pdf, must parse into the same articles.

And the reference corpus must parse exactly as it always has (others key data to its article texts).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot.ingest import discover_files, load_document
from bot.ingest.models import Chunk
from tests.layouts import FORMATS, pdf_bytes, pdf_page_texts, write_document

Q29 = ("施工单位必须按照工程设计要求、施工技术标准和合同约定，对建筑材料、建筑构配件、设备和商品混凝土进行检验，"
       "检验应当有书面记录和专人签字；未经检验或者检验不合格的，不得使用。")
Q30 = ("施工单位必须建立、健全施工质量的检验制度，严格工序管理，作好隐蔽工程的质量检查和记录。"
       "隐蔽工程在隐蔽前，施工单位应当通知建设单位和建设工程质量监督机构。")
Q41 = "建设工程在保修范围和保修期限内发生质量问题的，施工单位应当履行保修义务，并对造成的损失承担赔偿责任。"

# (title, paragraphs, expected labels)
LAYOUTS: dict[str, tuple[str, list[str], list[str]]] = {
    # An excerpt: numbers skip, every article stays its own.
    "excerpt": ("建设工程质量管理条例（节选）", [
        "## 第二章 建设单位的质量责任和义务",
        "第九条 建设单位必须向有关的勘察、设计、施工、工程监理等单位提供与建设工程有关的原始资料。",
        "原始资料必须真实、准确、齐全。",
        "## 第四章 施工单位的质量责任和义务",
        f"第二十九条 {Q29}",
        f"第三十条 {Q30}",
        "## 第六章 建设工程质量保修",
        f"第四十一条 {Q41}",
    ], ["第九条", "第二十九条", "第三十条", "第四十一条"]),
    # Arabic numerals, with spaces (as PDF text often has) and full-width.
    "arabic": ("示范工地扬尘管理规定", [
        "第 1 条 为了减少建筑工地扬尘污染，保护公众健康，制定本规定。",
        "第 2 条 施工单位应当在工地出入口设置车辆冲洗设施，车辆冲洗干净后方可驶出工地。",
        "第３条 土方作业应当采取洒水、覆盖等防尘措施。",
        "第 10 条 本规定自发布之日起施行。",
    ], ["第一条", "第二条", "第三条", "第十条"]),
    # Lines that begin with a reference continue their article.
    "references": ("示范检测管理办法", [
        "第一条 为了规范建设工程质量检测活动，制定本办法。",
        "第二条 检测机构应当取得相应的资质证书后，方可从事检测活动。",
        "第三条 检测机构不得出具虚假检测报告。",
        "第二条规定的资质证书有效期为五年，期满前三个月申请延续。",
        "第三十条第二款所列情形，依照其规定处理。",
        "第四条 本办法自发布之日起施行。",
    ], ["第一条", "第二条", "第三条", "第四条"]),
    # Attachments restart at 第一条: each has its own scope, so labels stay unique.
    "attachments": ("示范工程质量管理办法", [
        "第一条 为了加强工程质量管理，制定本办法。",
        "第二条 建设单位对工程质量负首要责任。",
        "第三条 本办法自发布之日起施行。",
        "附件1：示范质量检测规则",
        "第一条 为了规范质量检测，制定本规则。",
        "第二条 检测报告应当由检测人员和技术负责人签字。",
        "附件2",
        "示范质量验收规则",
        "第一条 为了规范质量验收，制定本规则。",
        "第二条 验收记录应当存档备查，保存期限不少于五年。",
        "附表：质量问题整改台账",
        "序号　问题描述　整改措施　整改期限　责任人",
    ], ["第一条", "第二条", "第三条", "附件1 第一条", "附件1 第二条", "附件2 第一条", "附件2 第二条", "附表"]),
    # Numbering that starts again without any 附件 line: still a scope of its own.
    "restart": ("示范安全生产规定", [
        "第一条 为了加强安全生产管理，制定本规定。",
        "第二条 施工单位应当建立安全生产责任制度。",
        "示范安全生产实施细则",
        "第一条 为了实施示范安全生产规定，制定本细则。",
        "第二条 项目负责人应当每周组织一次安全检查。",
    ], ["第一条", "第二条", "附件 第一条", "附件 第二条"]),
}


def _parse(tmp_path: Path, layout: str, fmt: str) -> list[Chunk]:
    title, paragraphs, _ = LAYOUTS[layout]
    path = write_document(tmp_path, layout, title, paragraphs, fmt)
    document = load_document(path)
    assert document.title == title
    return document.chunks


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layout_parses_into_its_articles_in_every_format(tmp_path: Path, layout: str, fmt: str) -> None:
    chunks = _parse(tmp_path, layout, fmt)
    assert [c.label for c in chunks] == LAYOUTS[layout][2]
    assert len({c.label for c in chunks}) == len(chunks)
    assert all(c.text.startswith(c.label) for c in chunks)
    markdown = {c.label: (c.chapter, c.text) for c in _parse(tmp_path, layout, "md")}
    for chunk in chunks:
        assert (chunk.chapter, chunk.text) == markdown[chunk.label], f"{fmt} differs from md in {chunk.label}"


def test_excerpt_keeps_each_article_with_its_chapter(tmp_path: Path) -> None:
    chunks = {c.label: c for c in _parse(tmp_path, "excerpt", "md")}
    assert chunks["第九条"].text == (
        "第九条　建设单位必须向有关的勘察、设计、施工、工程监理等单位提供与建设工程有关的原始资料。\n"
        "原始资料必须真实、准确、齐全。")
    assert chunks["第二十九条"].chapter == "第四章 施工单位的质量责任和义务"
    assert chunks["第四十一条"].article_no == 41 and chunks["第四十一条"].text == f"第四十一条　{Q41}"


def test_arabic_numbers_are_labelled_like_chinese_ones(tmp_path: Path) -> None:
    chunks = _parse(tmp_path, "arabic", "txt")
    assert [c.article_no for c in chunks] == [1, 2, 3, 10]
    assert chunks[1].text == "第二条　施工单位应当在工地出入口设置车辆冲洗设施，车辆冲洗干净后方可驶出工地。"


def test_reference_lines_continue_their_article(tmp_path: Path) -> None:
    third = _parse(tmp_path, "references", "docx")[2]
    assert third.text == ("第三条　检测机构不得出具虚假检测报告。\n"
                          "第二条规定的资质证书有效期为五年，期满前三个月申请延续。\n"
                          "第三十条第二款所列情形，依照其规定处理。")


def test_attachments_have_their_own_scope(tmp_path: Path) -> None:
    chunks = {c.label: c for c in _parse(tmp_path, "attachments", "txt")}
    assert chunks["第二条"].text == "第二条　建设单位对工程质量负首要责任。"
    assert chunks["附件1 第二条"].text == "附件1 第二条　检测报告应当由检测人员和技术负责人签字。"
    assert chunks["附件1 第二条"].chapter == "附件1 示范质量检测规则"
    assert chunks["附件2 第一条"].chapter == "附件2 示范质量验收规则"
    assert chunks["附件2 第一条"].article_no == 1
    assert "整改措施" in chunks["附表"].text and chunks["附表"].chapter == "附表 质量问题整改台账"
    assert "附件" not in chunks["第三条"].text  # nothing of the attachments is glued to the body


def test_restart_takes_the_title_line_before_it(tmp_path: Path) -> None:
    chunks = {c.label: c for c in _parse(tmp_path, "restart", "md")}
    assert chunks["第二条"].text == "第二条　施工单位应当建立安全生产责任制度。"
    assert chunks["附件 第一条"].chapter == "附件 示范安全生产实施细则"


def _long_excerpt() -> tuple[str, list[str]]:
    """The excerpt and more articles after it: several pages."""
    title, paragraphs, _ = LAYOUTS["excerpt"]
    more = [f"第{n}条 " + Q29 for n in "五十 五十一 五十二 五十三 五十四 五十五 五十六 五十七".split()]
    return title, paragraphs + ["## 第八章 罚则", *more]


def test_pdf_is_reflowed_and_page_furniture_dropped(tmp_path: Path) -> None:
    title, paragraphs = _long_excerpt()
    data = pdf_bytes(title, paragraphs, header="建设工程质量管理条例")
    raw = "\n".join(pdf_page_texts(data))
    assert "质量检\n查" in raw  # printed line breaks inside words and sentences …
    assert "通知\n\n建设工程质量管理条例\n- 2 -\n建设单位" in raw  # … and a page break, header, page number
    assert raw.count("建设工程质量管理条例\n") >= 3 and "- 2 -" in raw  # running header and page numbers
    path = tmp_path / "节选.pdf"
    path.write_bytes(data)
    document = load_document(path)
    assert document.title == title
    texts = "\n".join(c.text for c in document.chunks)
    assert f"第三十条　{Q30}" in texts and "作好隐蔽工程的质量检查和记录" in texts
    assert "- 1 -" not in texts and "- 2 -" not in texts
    assert "建设工程质量管理条例\n" not in texts and not texts.endswith("建设工程质量管理条例")
    assert [c.label for c in document.chunks][-1] == "第五十七条" and len(document.chunks) == 12


def test_pdf_title_repeated_as_the_header_of_later_pages_is_kept(tmp_path: Path) -> None:
    title, paragraphs = _long_excerpt()
    data = pdf_bytes(title, paragraphs, header=title, first_page_header=False)
    path = tmp_path / "节选.pdf"
    path.write_bytes(data)
    document = load_document(path)
    assert document.title == title
    assert all(title not in c.text for c in document.chunks)


# The reference corpus: (chunks, digest of every chunk's label and text) per document, as parsed before
# the parser learnt the layouts above. Any change to how these files parse must be deliberate.
CORPUS_PARSE = {
    "中华人民共和国产品质量法": (74, "cd4b01d642b7a56f"),
    "中华人民共和国安全生产法": (119, "b1cadb941361ed9e"),
    "安全生产许可证条例": (24, "3a47418a8390a3bd"),
    "广东省建设工程监理条例": (42, "624ab3f915c3a1ba"),
    "广东省建设工程质量管理条例": (57, "b1dcd8ff3a5110ec"),
    "中华人民共和国建筑法": (85, "0324eb68b71d2345"),
    "建设工程勘察设计管理条例": (46, "ce05be10d022b23e"),
    "建设工程安全生产管理条例": (71, "7b40b09712c13d7a"),
    "建设工程抗震管理条例": (51, "d6b5c8f90a673c86"),
    "建设工程质量管理条例": (82, "07e08188ef505b89"),
    "中华人民共和国招标投标法": (68, "f7fb61a5c765810a"),
    "中华人民共和国招标投标法实施条例": (84, "22f14d614c3d4a32"),
    "最高人民法院关于审理建设工程施工合同纠纷案件适用法律问题的解释（一）": (46, "42b61aedc9188ee3"),
    "中华人民共和国标准化法": (45, "25e8fb56bb6e40a2"),
    "民用建筑节能条例": (45, "83609ae96864a39f"),
    "中华人民共和国注册建筑师条例": (37, "2bba8009271d01a1"),
    "中华人民共和国消防法": (74, "6ce2ad8e49bd50f0"),
    "中华人民共和国特种设备安全法": (101, "679d27978ceb76b5"),
    "广东省住房城乡建设系统贯彻落实《广东省建设质量强省2014—2015年行动计划》工作方案": (15, "17aed3e061e2758f"),
}


def _digest(chunks: list[Chunk]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(f"{chunk.label}\x1f{chunk.text}\x1e".encode())
    return digest.hexdigest()[:16]


def test_reference_corpus_parses_exactly_as_before() -> None:
    from tests.conftest import CORPUS

    if not CORPUS.exists():
        pytest.skip("../shared/corpus is not beside the project")
    files, _ = discover_files([CORPUS])
    documents = {d.title: d for d in (load_document(f) for f in files)}
    assert {t: (len(d.chunks), _digest(d.chunks)) for t, d in documents.items()} == CORPUS_PARSE
    quality = {c.label: c for c in documents["建设工程质量管理条例"].chunks}
    assert quality["第三十条"].text == f"第三十条　{Q30}"
    assert quality["第五十四条"].chapter == "第八章 罚则" and quality["第五十四条"].text.startswith(
        "第五十四条　违反本条例规定，建设单位将建设工程发包给不具有相应资质等级的")
    building = {c.label: c for c in documents["中华人民共和国建筑法"].chunks}
    assert building["第二十六条"].chapter == "第三章 建筑工程发包与承包 / 第三节 承 包"
    assert building["第五十四条"].text.endswith(
        "建筑设计单位和建筑施工企业对建设单位违反前款规定提出的降低工程质量的要求，应当予以拒绝。")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("第一条 为了加强管理，制定本条例。", (1, "", "为了加强管理，制定本条例。")),
        ("第 1 条 为了加强管理。", (1, "", "为了加强管理。")),
        ("第１２条　施工单位应当检验。", (12, "", "施工单位应当检验。")),
        ("**第三条之一** 建立质量责任制。", (3, "之一", "建立质量责任制。")),
        ("第一百零一条：本条例自公布之日起施行。", (101, "", "本条例自公布之日起施行。")),
        ("第一条为了加强管理，制定本条例。", (1, "", "为了加强管理，制定本条例。")),  # PDF text without a space
        ("第二条规定的资质证书有效期为五年。", None),
        ("第三十条第二款所列情形，依照其规定处理。", None),
        ("第十条、第十一条的规定适用于监理单位。", None),
        ("第五条至第八条不适用于抢险救灾工程。", None),
    ],
)
def test_article_heads_and_references(line: str, expected: tuple[int, str, str] | None) -> None:
    from bot.ingest.lines import article_head

    head = article_head(line)
    assert (None if head is None else (head.number, head.suffix, head.rest)) == expected
