"""Reading a follow-up question together with the one before it.

After "隐蔽工程要通知谁？", the question "不通知会怎么罚？" asks for the penalty linked to that article; "那广东呢？"
for the other jurisdiction's rule on the same matter; "多少天之内？" for a detail of the same article; "是第几条？"
for the article itself. A question that stands on its own is answered on its own.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from bot.retrieval.glossary import Glossary
from bot.retrieval.search import Hit, Retriever, SearchResult

CONTEXT_SECONDS = 30 * 60  # a conversation's context lasts this long after its last answer
MAX_FOLLOW_UP_CHARS = 18  # longer questions carry their own topic
COUNTERPART_LOGIT = 2.0  # the counterpart document wins a region follow-up unless another is this much better
_ARTICLE_ASK = re.compile(
    r"第几条|哪一?条|哪个条款|出处|出自|原文|原话|条文怎么|依据是|根据哪|哪部|哪个(法|条例|文件|规定)"
)
_NATIONAL = re.compile(r"国家|全国|国务院|国标|部里")


@dataclass
class Turn:
    """What a conversation remembers of its last answered question."""

    question: str
    articles: list[tuple[str, str]]  # the main article first, then those shown beside it
    quote: str = ""  # what the answer quoted from the main article
    at: float = field(default_factory=time.monotonic)

    @property
    def main(self) -> tuple[str, str]:
        return self.articles[0]

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) - self.at > CONTEXT_SECONDS

    @property
    def topic(self) -> str:
        text = self.question.rstrip("？?。！!")
        return text if len(text) <= 24 else text[:23] + "…"


_NEGATION = re.compile(r"^(那|那么|要是|如果|假如|万一)?(没|不|未)")


def follow_kind(question: str, glossary: Glossary) -> str:
    """How a question would lean on the previous one: article | region | consequence | detail."""
    if _ARTICLE_ASK.search(question) and len(question) <= MAX_FOLLOW_UP_CHARS + 6:
        return "article"
    if any(cue in question for cue in glossary.local_cues) or _NATIONAL.search(question):
        return "region"
    if glossary.has_penalty_cue(question) or _NEGATION.search(question.strip()):
        return "consequence"
    return "detail"


def region_of(question: str, glossary: Glossary) -> str:
    """'local' when the follow-up asks about Guangdong, else 'national'."""
    return "local" if any(cue in question for cue in glossary.local_cues) else "national"


def new_terms(question: str, turn: Turn, retriever: Retriever) -> set[str]:
    """Terms of the question that the previous question and its article do not have: words the statutes use,
    but rarely (so not 单位, 工程 …, nor colloquial words the statutes never use)."""
    table = retriever.table
    limit = max(2, int(0.04 * len(table.keys)))
    known = turn.question + retriever.snapshot.article_text(*turn.main)
    names = set(retriever.names.alias_to_title)
    return {t for t in retriever.tokenizer.tokens(question)
            if len(t) >= 2 and 1 <= table.df.get(t, 0) <= limit and t not in known and t not in names
            and not retriever.glossary.has_penalty_cue(t)}


def read_follow_up(retriever: Retriever, question: str, turn: Turn) -> tuple[str, SearchResult | None]:
    """(kind, retrieval) for a question read with the previous turn; kind "" when it stands on its own (with
    its own retrieval when that was needed to tell, else None)."""
    previous = retriever.hit(*turn.main)
    if previous is None:
        return "", None
    kind = follow_kind(question, retriever.glossary)
    if kind != "article" and new_terms(question, turn, retriever):
        # It brings a matter of its own: a new question, unless on its own it finds nothing convincing or
        # only what the previous answer already showed.
        alone = retriever.retrieve(question)
        related = set(turn.articles) | {retriever.key_of(p) for p in retriever.linked_positions(previous.positions)}
        on_side = kind != "region" or _is_local(alone.hits[0]) == (region_of(question, retriever.glossary) == "local")
        if (alone.answered(retriever.model.threshold) and alone.hits and on_side
                and (alone.hits[0].doc, alone.hits[0].label) not in related):
            return "", alone
    if kind == "article":
        return kind, _first(retriever.retrieve(turn.question), previous)
    topic = _without_names(turn.question, retriever)
    if kind == "region":  # the same matter, as the previous article put it, without the previous region
        for cue in [*retriever.glossary.local_cues, *retriever.glossary.national_cues]:
            topic = topic.replace(cue, " ")
        topic = f"{topic} {turn.quote}"
    combined = retriever.retrieve(f"{topic} {question}", k=30)
    if kind == "detail":
        return kind, _first(combined, previous)
    if kind == "consequence":
        if previous.chunk.penalty:
            return kind, _first(combined, previous)
        linked = list(dict.fromkeys(retriever.key_of(p) for p in retriever.linked_positions(previous.positions)))
        penalties = [h for h in combined.hits if h.chunk.penalty and h.doc == previous.doc]
        penalties.sort(key=lambda h: (h.doc, h.label) not in linked)  # linked ones first, in rank order
        if penalties:
            return kind, _first(combined, penalties[0])
        linked_hits = [retriever.hit(*key) for key in linked]
        linked_hits = [h for h in linked_hits if h is not None and h.chunk.penalty]
        return kind, (_first(combined, linked_hits[0]) if linked_hits else combined)
    local = region_of(question, retriever.glossary) == "local"
    named = retriever.plan(question).docs
    side = [h for h in combined.hits if _is_local(h) == local and (not named or h.doc in named)]
    if not side:
        return "", None
    counterpart = _counterpart(previous.doc, retriever, local)
    # The counterpart document (质量管理条例 -> 广东省建设工程质量管理条例) is preferred unless another document of
    # that jurisdiction answers clearly better (the matter may live in, say, the Guangdong supervision rules).
    preferred = [h for h in side if h.doc == counterpart and h.score >= side[0].score - COUNTERPART_LOGIT]
    return kind, _first(combined, preferred[0] if preferred else side[0])


def _is_local(hit: Hit) -> bool:
    return hit.chunk.kind == "local_regulation" or hit.doc.startswith("广东")


def _counterpart(doc: str, retriever: Retriever, local: bool) -> str:
    """The other jurisdiction's version of a document (建设工程质量管理条例 <-> 广东省建设工程质量管理条例)."""
    if local:
        return retriever.names.localise(doc)
    for title in retriever.names.titles:
        if not title.startswith("广东") and title.removeprefix("中华人民共和国") in doc:
            return title
    return doc


def _without_names(question: str, retriever: Retriever) -> str:
    """The previous question without the documents it named (they must not pull the follow-up back)."""
    text = re.sub(r"《[^《》]*》", " ", question)
    for _, title in retriever.names.mentions(text):
        for alias, target in retriever.names.alias_to_title.items():
            if target == title:
                text = text.replace(alias, " ")
    return text


def _first(result: SearchResult, hit: Hit) -> SearchResult:
    """``result`` with ``hit`` moved (or put) first, presented as answering."""
    rest = [h for h in result.hits if (h.doc, h.label) != (hit.doc, hit.label)]
    return SearchResult(result.plan, [hit, *rest][:10], max(result.confidence, 1.0), referenced=True)
