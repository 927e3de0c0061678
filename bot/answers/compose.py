"""The extractive answer: the sentences that answer, quoted verbatim, with their citation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.retrieval.search import Hit, Retriever, SearchResult

MAX_ANSWER_CHARS = 1500
EXTRACTIVE_NOTE = "（以上为原文摘录）"
MAIN_TEXT_CHARS = 560
SIDE_QUOTE_CHARS = 220
_SENTENCE = re.compile(r"[^。；！？\n]+[。；！？]?")


@dataclass
class AnswerSection:
    """One cited article in a reply."""

    role: str  # main | also | local | national | penalty | duty
    doc: str
    label: str
    chapter: str
    quote: str  # the sentences that answer, verbatim
    text: str  # the article, trimmed around what matters
    terms: list[str] = field(default_factory=list)  # words to mark in the quote

    @property
    def citation(self) -> str:
        return f"《{self.doc}》{self.label}"


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


ROLE_HEADINGS = {
    "main": "依据",
    "also": "另见",
    "local": "广东省规定",
    "national": "国家规定",
    "penalty": "违反的后果",
    "duty": "对应的义务条款",
}


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


class Composer:
    """Builds an :class:`Answer` from a :class:`SearchResult`."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def compose(self, question: str, result: SearchResult, full: bool = False) -> Answer:
        snapshot = self.retriever.snapshot
        citations = [
            {"doc": h.doc, "loc": h.label, "score": round(h.score, 4),
             "text": snapshot.article_text(h.doc, h.label)}
            for h in result.hits
        ]
        answered = result.answered(self.retriever.model.threshold)
        if not answered:
            topics = list(dict.fromkeys(h.doc for h in result.hits[:5]))[:3]
            return Answer(question, False, [], citations, self._abstain_text(topics), nearest_topics=topics)
        terms = self._terms(result)
        sections = [self._section("main", result.hits[0], terms, full)]
        for role, hit in self._companions(result):
            sections.append(self._section(role, hit, terms, False))
        text = render_plain(sections, full) + "\n" + EXTRACTIVE_NOTE
        return Answer(question, True, sections, citations, text)

    def _terms(self, result: SearchResult) -> list[str]:
        tokens = self.retriever.tokenizer.tokens(result.plan.expanded_text)
        return sorted({t for t in tokens if len(t) >= 2}, key=len, reverse=True)

    def _companions(self, result: SearchResult) -> list[tuple[str, Hit]]:
        """Other articles worth showing: the other jurisdiction, a close second, linked articles."""
        hits = result.hits
        main = hits[0]
        chosen: list[tuple[str, Hit]] = []
        seen = {(main.doc, main.label)}

        def add(role: str, hit: Hit) -> None:
            if (hit.doc, hit.label) not in seen and len(chosen) < 3:
                seen.add((hit.doc, hit.label))
                chosen.append((role, hit))

        top = main.score
        main_local = _is_local(main)
        for hit in hits[1:5]:
            if _is_local(hit) != main_local and hit.score >= 0.85 * top:
                add("national" if main_local else "local", hit)
                break
        named = [d for d in result.plan.docs if d != main.doc]
        for doc in named:
            for hit in hits[1:6]:
                if hit.doc == doc:
                    add("also", hit)
                    break
        if len(hits) > 1 and hits[1].score >= 0.93 * top:
            add("also", hits[1])
        linked_role = "duty" if main.chunk.penalty else "penalty"
        for position in self.retriever.linked_positions(main.positions):
            add(linked_role, self._hit_at(position))
            break
        return chosen

    def _hit_at(self, position: int) -> Hit:
        chunk = self.retriever.snapshot.chunks[position]
        return Hit(chunk=chunk, score=0.0, positions=list(
            self.retriever.snapshot.by_article.get((chunk.doc, chunk.label), [position])))

    def _section(self, role: str, hit: Hit, terms: list[str], full: bool) -> AnswerSection:
        article = self.retriever.snapshot.article_text(hit.doc, hit.label)
        body = article[len(hit.label):].lstrip("　 \n") if article.startswith(hit.label) else article
        sentences = split_sentences(body)
        scored = [(sum(1 for t in terms if t in s), i) for i, s in enumerate(sentences)]
        best = sorted((i for score, i in sorted(scored, reverse=True)[:2] if score > 0))
        if not best and sentences:
            best = [0]
        # Non-adjacent sentences are joined with …… so that each piece stays a verbatim quote.
        quote = "".join(("……" if n and i != best[n - 1] + 1 else "") + sentences[i] for n, i in enumerate(best))
        limit = None if full else (MAIN_TEXT_CHARS if role == "main" else SIDE_QUOTE_CHARS)
        if role != "main" and not full:
            quote = _clip(quote, SIDE_QUOTE_CHARS)
            text = ""
        else:
            text = article if limit is None or len(article) <= limit else _trim(article, sentences, best, limit)
        used = [t for t in terms if t in quote][:8]
        return AnswerSection(role, hit.doc, hit.label, hit.chunk.chapter, quote, text, used)

    @staticmethod
    def _abstain_text(topics: list[str]) -> str:
        lines = [
            "抱歉，现有资料中没有找到能回答这个问题的条文，我不能凭空作答。",
            "建议换个说法：写明涉及的单位或人员（如建设单位、施工单位、监理）和具体事项（如竣工验收、保修、罚款）。",
        ]
        if topics:
            lines.append("目前收录的相关资料有：" + "、".join(f"《{t}》" for t in topics))
        return "\n".join(lines)


def _is_local(hit: Hit) -> bool:
    return hit.chunk.kind == "local_regulation" or hit.doc.startswith("广东")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _trim(article: str, sentences: list[str], keep: list[int], limit: int) -> str:
    """The article's first line, then the sentences around the kept ones, with …… for gaps."""
    head = article.split("\n", 1)[0]
    if len(head) > limit // 2:
        head = head[: limit // 2] + "……"
    wanted: set[int] = set()
    for i in keep:
        wanted.update({i - 1, i, i + 1})
    out = [head]
    size = len(head)
    last = -2
    for i, sentence in enumerate(sentences):
        if i not in wanted or sentence in head:
            continue
        if size + len(sentence) > limit:
            break
        if i != last + 1:
            out.append("……")
        out.append(sentence)
        size += len(sentence)
        last = i
    return "".join(out) + ("……" if last < len(sentences) - 1 else "")


def render_plain(sections: list[AnswerSection], full: bool = False) -> str:
    """Plain-text reply (terminal, ``ask --json``): quotes are verbatim, nothing inserted into them."""
    parts: list[str] = []
    for section in sections:
        heading = ROLE_HEADINGS.get(section.role, "相关")
        chapter = f"（{section.chapter.split(' / ')[-1]}）" if section.chapter else ""
        if section.role == "main":
            parts.append(f"【{heading}】{section.citation}{chapter}")
            parts.append(f"“{section.quote}”")
            if section.text and section.text.strip() != section.quote:
                parts.append(f"条文：{section.text}")
        else:
            parts.append(f"【{heading}】{section.citation}：“{section.quote}”")
    text = "\n".join(parts)
    limit = MAX_ANSWER_CHARS - len(EXTRACTIVE_NOTE) - 1
    if not full and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
