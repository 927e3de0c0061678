"""Duties by role: the obligations the indexed documents place on a party, with citations and penalties."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.retrieval.roles import RoleMatcher
from bot.retrieval.search import Retriever


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


def extract_duties(retriever: Retriever, role: str) -> DutyList:
    """All obligations on ``role`` in the indexed statutes (training notes and penalty articles excluded)."""
    snapshot = retriever.snapshot
    matcher = RoleMatcher(retriever.glossary.roles)
    result = DutyList(role)
    seen: set[tuple[str, str, str]] = set()
    for (doc, label), positions in snapshot.by_article.items():
        chunk = snapshot.chunks[positions[0]]
        if chunk.penalty or chunk.kind == "training":
            continue
        article = snapshot.article_text(doc, label)
        body = article[len(label):].lstrip("　 ") if article.startswith(label) else article
        obligations = [o for o in matcher.obligations(body) if role in o.roles]
        if not obligations:
            continue
        penalty = ""
        for position in retriever.linked_positions(positions):
            linked = snapshot.chunks[position]
            if linked.penalty:
                penalty = linked.label
                break
        topic = chunk.chapter.split(" / ")[-1] if chunk.chapter else "（未分章）"
        for obligation in obligations:
            key = (doc, label, obligation.text)
            if key not in seen:
                seen.add(key)
                result.duties.append(Duty(role, doc, label, topic, obligation.text, penalty))
    return result


def render_duties(duties: DutyList, limit: int | None = None) -> str:
    """Plain text, grouped by document and topic; ``limit`` caps the number of duties shown."""
    if not duties.duties:
        return f"在已收录的资料中没有找到对“{duties.role}”的义务性规定。"
    docs = duties.grouped()
    lines = [f"{duties.role}的义务：共 {len(duties.duties)} 条，来自 {len(docs)} 份文件。"]
    shown = 0
    for doc, topics in docs.items():
        lines.append(f"\n《{doc}》")
        for topic, items in topics.items():
            lines.append(f"  {topic}")
            for duty in items:
                if limit is not None and shown >= limit:
                    lines.append(f"……其余 {len(duties.duties) - shown} 条从略。")
                    return "\n".join(lines)
                consequence = f"（违反的后果见{duty.penalty}）" if duty.penalty else ""
                lines.append(f"  - {duty.label}：{duty.text}{consequence}")
                shown += 1
    return "\n".join(lines)
