"""The extractive answer: the sentence(s) that answer first, quoted verbatim, then the citation.

The lead quote is the part of the best article that answers: the answering sentence of the phrasing the
question matched, else the sentences that carry the question's statutory terms (for "how long / how much"
questions, the one with the figure), with an item's lead-in kept so that it reads on its own. Closely ranked
articles of the other jurisdiction, a close second, and the penalty (or duty) article linked to the main one
follow, one quoted sentence each. Nothing is printed twice; the whole article is there on request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from bot.answers.followup import Turn
from bot.retrieval.phrasings import Phrasing
from bot.retrieval.search import Hit, Retriever, SearchResult

MAX_ANSWER_CHARS = 1500
EXTRACTIVE_NOTE = "（以上为原文摘录）"
LEAD_CHARS = 360  # the lead quote
SIDE_CHARS = 200  # a companion's quote
WHOLE_CHARS = 260  # an article this short is quoted whole
CLOSE_LOGIT = 2.0  # a second article this close to the first is shown too (odds within about 7:1)
OTHER_REGION_LOGIT = 1.5
RARE_SHARE = 0.04  # a word in fewer than this share of articles is a term worth marking
_PIECE = re.compile(r"[^。；！？\n]+(?:[。；！？]|(?=\n)|$)")
_ITEM = re.compile(r"^[（(][一二三四五六七八九十\d]+[）)]")
_FIGURE = re.compile(
    r"(?:[0-9０-９.]+|[一二两三四五六七八九十百千万]+)\s*(?:个)?(?:年|日|天|个月|月|小时|周|个工作日|工作日|%|％|倍|元|万元|"
    r"人|次|层|米|平方米|采暖期|供冷期)|百分之[一二三四五六七八九十点]+|千分之[一二三四五六七八九十]+"
)
_NUMBER_QUESTION = re.compile(
    r"多久|多长|几天|几年|几个|几次|几倍|几成|多少|期限|时限|期间|比例|多大|多高|几级|哪天|之内|以内|上限"
)


@dataclass
class AnswerSection:
    """One cited article in a reply."""

    role: str  # main | also | local | national | penalty | duty
    doc: str
    label: str
    chapter: str
    quote: str  # the sentences that answer, verbatim (pieces joined by ……)
    text: str = ""  # the whole article, when asked for in full
    terms: list[str] = field(default_factory=list)  # what to mark in the quote: statutory terms, figures

    @property
    def citation(self) -> str:
        return f"《{self.doc}》{self.label}"

    @property
    def chapter_name(self) -> str:
        return self.chapter.split(" / ")[-1] if self.chapter else ""


@dataclass
class Answer:
    """A composed reply; ``text`` is the plain-text rendering."""

    question: str
    answered: bool
    sections: list[AnswerSection]
    citations: list[dict]
    text: str
    mode: str = "extractive"
    nearest_topics: list[str] = field(default_factory=list)
    context: str = ""  # how a follow-up was read ("接上一问：…"), empty for a question on its own
    turn: Turn | None = None  # what the conversation remembers for the next question


ROLE_HEADINGS = {
    "main": "依据",
    "also": "另见",
    "local": "广东省规定",
    "national": "国家规定",
    "penalty": "违反的后果",
    "duty": "对应的义务条款",
}


def split_pieces(text: str) -> list[str]:
    """Sentences and items (cut at 。；！？ and line breaks), stripped."""
    return [p.strip() for p in _PIECE.findall(text) if p.strip()]


def is_number_question(question: str) -> bool:
    return bool(_NUMBER_QUESTION.search(question))


class Composer:
    """Builds an :class:`Answer` from a :class:`SearchResult`."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def compose(self, question: str, result: SearchResult, full: bool = False, focus: str = "") -> Answer:
        """``focus``: the words that say what is asked, when they differ from ``question`` (a follow-up)."""
        snapshot = self.retriever.snapshot
        citations = [
            {"doc": h.doc, "loc": h.label, "score": round(h.score, 4),
             "text": snapshot.article_text(h.doc, h.label)}
            for h in result.hits
        ]
        if not result.answered(self.retriever.model.threshold):
            topics = list(dict.fromkeys(h.doc for h in result.hits[:5]))[:3]
            text = self.abstain_text(topics, result.plan.unknown_laws)
            return Answer(question, False, [], citations, text, nearest_topics=topics)
        asked = focus or question
        terms = self.terms(result, asked)
        main = result.hits[0]
        sections = [self.section("main", main, terms, asked, full)]
        for role, hit in self.companions(result):
            sections.append(self.section(role, hit, terms, asked, False))
        text = render_plain(sections, full) + "\n" + EXTRACTIVE_NOTE
        return Answer(question, True, sections, citations, text)

    # what to show --------------------------------------------------------------------------------
    def terms(self, result: SearchResult, question: str) -> list[str]:
        """Words of the question (and the statutory terms its jargon maps to) rare enough to mean something."""
        table = self.retriever.table
        tokens = set(self.retriever.tokenizer.tokens(" ".join([question, *result.plan.expansions])))
        limit = max(2, int(RARE_SHARE * len(table.keys)))
        rare = {t for t in tokens if len(t) >= 2 and table.df.get(t, 0) <= limit}
        rare.update(e for e in result.plan.expansions if len(e) >= 2)
        return sorted(rare, key=len, reverse=True)

    def companions(self, result: SearchResult) -> list[tuple[str, Hit]]:
        """Other articles worth showing: the other jurisdiction, a close second, named documents, the linked
        penalty (for a duty) or duty (for a penalty)."""
        hits = result.hits
        main = hits[0]
        chosen: list[tuple[str, Hit]] = []
        seen = {(main.doc, main.label)}

        def add(role: str, hit: Hit) -> None:
            if (hit.doc, hit.label) not in seen and len(chosen) < 3:
                seen.add((hit.doc, hit.label))
                chosen.append((role, hit))

        main_local = _is_local(main)
        for hit in hits[1:5]:
            if _is_local(hit) != main_local and main.score - hit.score <= OTHER_REGION_LOGIT:
                add("national" if main_local else "local", hit)
                break
        for doc in (d for d in result.plan.docs if d != main.doc):
            for hit in hits[1:6]:
                if hit.doc == doc:
                    add("also", hit)
                    break
        if len(hits) > 1 and main.score - hits[1].score <= CLOSE_LOGIT:
            add("also", hits[1])
        linked_role = "duty" if main.chunk.penalty else "penalty"
        for position in self.retriever.linked_positions(main.positions):
            chunk = self.retriever.snapshot.chunks[position]
            if chunk.penalty != main.chunk.penalty:
                add(linked_role, self._hit_at(position))
                break
        return chosen

    def _hit_at(self, position: int) -> Hit:
        chunk = self.retriever.snapshot.chunks[position]
        return Hit(chunk=chunk, score=0.0, positions=list(
            self.retriever.snapshot.by_article.get((chunk.doc, chunk.label), [position])))

    def section(self, role: str, hit: Hit, terms: list[str], question: str, full: bool) -> AnswerSection:
        article = self.retriever.snapshot.article_text(hit.doc, hit.label)
        body = article[len(hit.label):].lstrip("　 \n") if article.startswith(hit.label) else article
        limit = LEAD_CHARS if role == "main" else SIDE_CHARS
        quote = body if full else self.quote(body, terms, question, hit.matched_phrasing, limit)
        marks = [t for t in terms if t in quote]
        if is_number_question(question):
            marks += [m.group(0) for m in _FIGURE.finditer(quote) if m.group(0) not in marks]
        return AnswerSection(role, hit.doc, hit.label, hit.chunk.chapter, quote, article if full else "",
                             marks[:10])

    def quote(self, body: str, terms: list[str], question: str, phrasing: Phrasing | None, limit: int) -> str:
        """The answering pieces of an article, verbatim, in article order; gaps marked with ……"""
        pieces = split_pieces(body)
        if not pieces:
            return body[:limit]
        if len(body) <= WHOLE_CHARS:
            return body.strip()
        table = self.retriever.table
        n = max(len(table.keys), 1)
        numbers = is_number_question(question)
        scores = []
        for piece in pieces:
            score = sum(math.log(n / (1 + table.df.get(t, 0))) for t in terms if t in piece)
            if numbers and _FIGURE.search(piece):
                score += 3.0
            if phrasing is not None and (piece in phrasing.answer or phrasing.answer in piece):
                score += 10.0
            scores.append(score)
        ranked = sorted(range(len(pieces)), key=lambda i: (-scores[i], i))
        chosen: list[int] = []
        size = 0
        for i in ranked:
            if scores[i] <= 0 and chosen:
                break
            if chosen and size + len(pieces[i]) > limit:
                continue
            chosen.append(i)
            size += len(pieces[i])
            if len(chosen) == 3:
                break
        chosen.sort()
        # An item (（二）…) reads on its own only with the lead-in that introduces the list.
        first = chosen[0]
        if _ITEM.match(pieces[first]):
            lead = next((j for j in range(first - 1, -1, -1) if not _ITEM.match(pieces[j])), None)
            if lead is not None and lead not in chosen and size + len(pieces[lead]) <= limit + 80:
                chosen.insert(0, lead)
        out = []
        for k, i in enumerate(chosen):
            if k and i != chosen[k - 1] + 1:
                out.append("……")
            out.append(pieces[i])
        text = "".join(out)
        return text if len(text) <= limit + 120 else text[: limit + 119] + "…"

    def abstain_text(self, topics: list[str], unknown_laws: list[str]) -> str:
        """The polite refusal: why, how to ask better, and what the knowledge does cover."""
        if unknown_laws:
            named = "、".join(f"《{law}》" for law in unknown_laws)
            lines = [f"抱歉，{named}不在我的资料库中，我不能凭空作答，请以该法律法规的原文或专业意见为准。"]
        else:
            lines = ["抱歉，现有资料中没有找到能回答这个问题的条文，我不能凭空作答。",
                     "建议换个说法：写明涉及的单位或人员（如建设单位、施工单位、监理）和具体事项（如竣工验收、保修、罚款）。"]
        covered = [d["title"] for d in self.retriever.snapshot.documents if d.get("kind") != "training"]
        if topics and not unknown_laws:
            lines.append("与您的问题最接近的资料：" + "、".join(f"《{t}》" for t in topics))
        if covered:
            shown = "、".join(f"《{t}》" for t in covered[:8]) + ("等" if len(covered) > 8 else "")
            lines.append(f"目前收录 {len(covered)} 份建设工程法规和文件，如{shown}。")
        return "\n".join(lines)


def _is_local(hit: Hit) -> bool:
    return hit.chunk.kind == "local_regulation" or hit.doc.startswith("广东")


def render_plain(sections: list[AnswerSection], full: bool = False) -> str:
    """Plain text (terminal, ``ask --json``): the answering quote first, then its citation, then companions.
    Quotes are verbatim, nothing is inserted into them."""
    parts: list[str] = []
    for section in sections:
        chapter = f"（{section.chapter_name}）" if section.chapter_name else ""
        if section.role == "main":
            parts.append(f"“{section.quote}”")
            parts.append(f"——{section.citation}{chapter}")
        else:
            parts.append(f"{ROLE_HEADINGS.get(section.role, '相关')}·{section.citation}：“{section.quote}”")
    text = "\n".join(parts)
    limit = MAX_ANSWER_CHARS - len(EXTRACTIVE_NOTE) - 1
    if not full and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
