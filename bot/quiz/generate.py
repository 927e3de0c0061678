"""Questions generated from indexed articles, each with its citation.

Three kinds, kept only when the source text makes the answer unambiguous:
- amounts and periods (罚款幅度, 保修期限, 时限): the value the article states, distractors drawn from other
  articles' values of the same kind;
- which party bears a duty: the subject of an obligation sentence, distractors the other parties;
- true/false with the subject swapped.
"""

from __future__ import annotations

import hashlib
import random
import re

from bot.quiz.bank import Question
from bot.retrieval.roles import RoleMatcher
from bot.retrieval.search import Retriever

_AMOUNT = re.compile(r"处([^，；。]{2,30}?以上[^，；。]{1,30}?以下)的罚款")
_PERIOD = re.compile(r"((?:\d+|[一二三四五六七八九十]+)(?:日|天|小时|个月|年))(?:内|以内)")
_PARTIES = ["建设单位", "勘察单位", "设计单位", "施工单位", "工程监理单位", "检测机构"]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[。；])", text) if s.strip()]


def _id(doc: str, label: str, kind: str, n: int) -> str:
    return "g-" + hashlib.sha1(f"{doc}|{label}|{kind}|{n}".encode()).hexdigest()[:10]


def generate_questions(retriever: Retriever, limit: int = 200, seed: int = 7) -> list[Question]:
    snapshot = retriever.snapshot
    matcher = RoleMatcher({p: retriever.glossary.roles.get(p, [p]) for p in _PARTIES})
    rng = random.Random(seed)
    amounts: dict[str, set[str]] = {}
    found_amounts: list[tuple[str, str, str, str]] = []
    out: list[Question] = []
    for (doc, label), positions in snapshot.by_article.items():
        chunk = snapshot.chunks[positions[0]]
        if chunk.kind == "training" or not label.startswith("第"):
            continue
        text = snapshot.article_text(doc, label)
        values = _AMOUNT.findall(text)
        if chunk.penalty and len(values) == 1:  # one amount: unambiguous
            kind = "yuan" if "元" in values[0] else ("percent" if "%" in values[0] else "other")
            amounts.setdefault(kind, set()).add(values[0])
            body = text[len(label):].lstrip("　 ")
            sentence = next((s for s in _sentences(body) if values[0] in s), "")
            found_amounts.append((doc, label, kind, sentence))
        if not chunk.penalty:
            for obligation in matcher.obligations(text[len(label):]):
                if len(obligation.roles) != 1 or not 15 <= len(obligation.text) <= 90:
                    continue
                party = obligation.roles[0]
                alias = party  # only where the text names the party verbatim: the answer is then unambiguous
                if obligation.text.count(alias) != 1 or any(
                        p in obligation.text for p in _PARTIES if p != party and p.endswith(party)):
                    continue
                blank = obligation.text.replace(alias, "（  ）", 1)
                others = [p for p in _PARTIES if p != party and p not in obligation.text]
                if len(others) < 3:
                    continue
                options = [party, *rng.sample(others, 3)]
                rng.shuffle(options)
                out.append(Question(
                    id=_id(doc, label, "party", len(out)), type="single",
                    question=f"依据《{doc}》{label}，填空：{blank}", options=tuple(options),
                    answer=(options.index(party),), explanation=f"原文：{obligation.text}"[:200],
                    doc=doc, loc=label, topic="义务主体", roles=(party,), difficulty=2, generated=True,
                ))
                swapped = rng.choice(others)
                statement = obligation.text.replace(alias, swapped, 1)
                out.append(Question(
                    id=_id(doc, label, "tf", len(out)), type="truefalse",
                    question=f"判断：{statement}", options=("正确", "错误"), answer=(1,),
                    explanation=f"原文规定的主体是{party}：{obligation.text}"[:200],
                    doc=doc, loc=label, topic="义务主体", roles=(party,), difficulty=2, generated=True,
                ))
                break
    for doc, label, kind, sentence in found_amounts:
        value = _AMOUNT.search(sentence)
        arabic = bool(value and re.search(r"\d", value.group(1)))
        pool = sorted(v for v in amounts.get(kind, set()) - {value.group(1)}
                      if bool(re.search(r"\d", v)) == arabic) if value else []
        if not value or len(pool) < 3 or len(sentence) > 250:
            continue
        options = [value.group(1), *rng.sample(pool, 3)]
        rng.shuffle(options)
        stem = sentence.replace(value.group(1), "（  ）", 1)
        out.append(Question(
            id=_id(doc, label, "amount", len(out)), type="single",
            question=f"依据《{doc}》{label}，填空：{stem}"[:300], options=tuple(options),
            answer=(options.index(value.group(1)),), explanation=f"原文：{sentence}"[:200],
            doc=doc, loc=label, topic="法律责任", roles=(), difficulty=3, generated=True,
        ))
    rng.shuffle(out)
    return [q for q in out if all(len(o) <= 100 for o in q.options)][:limit]
