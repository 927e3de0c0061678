"""Duties by role: the obligations the indexed documents place on a party, with citations and penalties."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.retrieval.roles import RoleMatcher
from bot.retrieval.search import Retriever

# The order a quality officer reads them in: the construction-quality core, then safety, then the rest.
DOCUMENT_ORDER = ("建设工程质量管理条例", "广东省建设工程质量管理条例", "建筑法", "建设工程安全生产管理条例",
                  "广东省建设工程监理条例", "建设工程勘察设计管理条例", "民用建筑节能条例", "建设工程抗震管理条例",
                  "招标投标法", "招标投标法实施条例", "安全生产许可证条例", "特种设备安全法", "消防法")
# Clauses about other industries (mining, metallurgy, dangerous goods) unless they name building construction.
_OTHER_INDUSTRY = re.compile(r"矿山|金属冶炼|危险物品|城市轨道交通")
MIN_DUTY_CHARS = 12  # shorter sentences (施工单位应当执行。) say nothing out of their article
PAGE_SIZE = 15


@dataclass
class Duty:
    role: str
    doc: str
    label: str
    topic: str  # the chapter it stands in (the document, where there are no chapters)
    text: str
    penalty: str = ""  # label of the penalty article that enforces it, when one is linked


@dataclass
class DutyList:
    role: str
    duties: list[Duty] = field(default_factory=list)

    def grouped(self) -> dict[str, dict[str, list[Duty]]]:
        """document -> topic -> duties, in index order."""
        out: dict[str, dict[str, list[Duty]]] = {}
        for duty in self.duties:
            out.setdefault(duty.doc, {}).setdefault(duty.topic, []).append(duty)
        return out


def _document_rank(title: str) -> int:
    bare = title.removeprefix("中华人民共和国")
    return DOCUMENT_ORDER.index(bare) if bare in DOCUMENT_ORDER else len(DOCUMENT_ORDER)


def extract_duties(retriever: Retriever, role: str) -> DutyList:
    """The obligations on ``role`` in the indexed statutes, in reading order: documents by DOCUMENT_ORDER, and
    within a document the chapter about that party first (第四章 施工单位的质量责任和义务), then the rest in
    article order. Training notes, penalty articles, fragments and other industries' clauses are left out."""
    snapshot = retriever.snapshot
    matcher = RoleMatcher(retriever.glossary.roles)
    aliases = [role, *retriever.glossary.roles.get(role, [])]
    found: list[tuple[tuple, Duty]] = []
    seen: set[tuple[str, str, str]] = set()
    for n, ((doc, label), positions) in enumerate(snapshot.by_article.items()):
        chunk = snapshot.chunks[positions[0]]
        if chunk.penalty or chunk.kind == "training":
            continue
        article = snapshot.article_text(doc, label)
        body = article[len(label):].lstrip("　 ") if article.startswith(label) else article
        obligations = [o for o in matcher.obligations(body) if role in o.roles and len(o.text) >= MIN_DUTY_CHARS
                       and not (_OTHER_INDUSTRY.search(o.text) and "建筑施工" not in o.text)]
        if not obligations:
            continue
        penalty = ""
        for position in retriever.linked_positions(positions):
            linked = snapshot.chunks[position]
            if linked.penalty:
                penalty = linked.label
                break
        topic = chunk.chapter.split(" / ")[-1] if chunk.chapter else "（未分章）"
        own_chapter = any(alias in topic for alias in aliases)
        for obligation in obligations:
            key = (doc, label, obligation.text)
            if key not in seen:
                seen.add(key)
                order = (_document_rank(doc), doc, not own_chapter, n)
                found.append((order, Duty(role, doc, label, topic, obligation.text, penalty)))
    return DutyList(role, [duty for _, duty in sorted(found, key=lambda item: item[0])])


def duty_page(duties: DutyList, page: int, size: int = PAGE_SIZE) -> tuple[str, int]:
    """One page of :func:`render_duties` and the number of pages."""
    pages = max(1, -(-len(duties.duties) // size))
    page = min(max(page, 0), pages - 1)
    return render_duties(duties, start=page * size, limit=size), pages


def render_duties(duties: DutyList, limit: int | None = None, start: int = 0) -> str:
    """Plain text grouped by document (with its count) and chapter; duties ``start`` … ``start + limit``."""
    if not duties.duties:
        return f"在已收录的资料中没有找到对“{duties.role}”的义务性规定。"
    docs = duties.grouped()
    counts = "、".join(f"《{doc}》{sum(len(items) for items in topics.values())} 条" for doc, topics in docs.items())
    lines = [f"{duties.role}的义务：共 {len(duties.duties)} 条，来自 {len(docs)} 份文件（{counts}）。"]
    end = len(duties.duties) if limit is None else min(len(duties.duties), start + limit)
    shown = duties.duties[start:end]
    current_doc = current_topic = None
    for duty in shown:
        if duty.doc != current_doc:
            lines.append(f"\n《{duty.doc}》")
            current_doc, current_topic = duty.doc, None
        if duty.topic != current_topic:
            lines.append(f"  {duty.topic}")
            current_topic = duty.topic
        consequence = f"（违反的后果见{duty.penalty}）" if duty.penalty else ""
        lines.append(f"  - {duty.label}：{duty.text}{consequence}")
    if end < len(duties.duties):
        lines.append(f"……其余 {len(duties.duties) - end} 条见下一页。")
    return "\n".join(lines)
