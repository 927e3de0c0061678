"""Questions generated from indexed articles, each with its citation.

Every question stands on its own and cannot be answered from its wording alone:
- the stem quotes a whole, self-contained provision (no 前款/逾期未改正的 without what it refers to); a penalty
  clause is joined to the party and the conduct it punishes (one item of a 有下列行为之一的 list is spelled out);
- a blank never sits in an enumeration (特种设备检验、（  ）及其…) and no other word of the sentence gives the
  party away (…（  ）…进行监理 → 工程监理单位 is not asked);
- distractors are of the same kind: other parties, or amounts and periods of the same form taken from other
  articles of the corpus (工程合同价款 percentages with each other, arabic with arabic numerals …);
- true/false statements are true (the provision verbatim) as often as false (another party put in its place,
  one the article does not mention).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.quiz.bank import Question
from bot.retrieval.roles import RoleMatcher
from bot.retrieval.search import Retriever

PARTIES = ["建设单位", "勘察单位", "设计单位", "施工单位", "工程监理单位", "检测机构"]
# Words that, elsewhere in a sentence, point at the party a blank stands for.
CUES = {"勘察单位": ("勘察",), "设计单位": ("设计",), "工程监理单位": ("监理",), "检测机构": ("检测", "检验"),
        "施工单位": ("施工",), "建设单位": ()}
SAME_DUTY = 0.5  # bigram overlap above which another party's duty counts as the same duty
STEM_LIMIT = 240
_AMOUNT = re.compile(r"处以?(?P<value>[^，；。：、]{2,40}?以上[^，；。：、]{1,30}?以下)的?罚款")
_NUMBER = re.compile(r"[\d.]+|[〇零一二三四五六七八九十百千两]+")
_PERIOD = re.compile(r"(?<![\d〇零一二三四五六七八九十百千两])(?P<value>(?:\d+|[一二三四五六七八九十百]+)"
                     r"(?:个工作日|个月|日|天|小时|年))(?=内|以内)")
_DEPENDENT = re.compile(
    r"^(前款|依照前款|对前款|有前款|前两款|本条|本款|其|该|上述|逾期|情节严重|造成|并|但|同时|除|对有)")
_ITEM = re.compile(r"^[（(][一二三四五六七八九十\d]+[）)]")
_LIST_LEAD = re.compile(r"有下列(?:行为|情形)之一的")
_OTHER_VALUE = re.compile(r"[\d〇零一二三四五六七八九十百千两]+万?元|%|‰|倍")
_PERSON = re.compile(r"单位|机构|企业|人员|工程师|负责人|投资人|委员会|生产者|销售者")


@dataclass(frozen=True)
class _Provision:
    doc: str
    label: str
    text: str  # one self-contained sentence or clause


def _id(doc: str, label: str, kind: str, text: str) -> str:
    """Stable across re-indexing: named by where it comes from and what it says."""
    return "g-" + hashlib.sha1(f"{doc}|{label}|{kind}|{text}".encode()).hexdigest()[:10]


def _place(answer: str, distractors: list[str], placed: dict[str, int], group: str) -> list[str]:
    """The options with the answer in A, B, C, D by turns within ``group``: the stored keys stay balanced
    even within the handful of questions one role draws (attempts shuffle them again)."""
    position = placed.get(group, 0) % (len(distractors) + 1)
    placed[group] = placed.get(group, 0) + 1
    return [*distractors[:position], answer, *distractors[position:]]


def _self_contained(sentence: str) -> bool:
    return (not _DEPENDENT.match(sentence) and not sentence.rstrip().endswith(("：", ":"))
            and not any(w in sentence for w in ("下列", "前款", "前两款", "本款", "前项", "上述")))


def _subject_slot(sentence: str, party: str) -> int | None:
    """Where ``party`` stands once, as a whole word, outside any enumeration; else None."""
    if sentence.count(party) != 1:
        return None
    start = sentence.index(party)
    before = sentence[start - 1] if start else "，"
    after = sentence[start + len(party): start + len(party) + 1]
    if before not in "，；。：" or after in ("、", "和", "及", "与", "或", "的"):
        return None
    return start


def _gives_away(sentence: str, party: str) -> bool:
    """Another word of the sentence names the party's trade (…进行监理 for 工程监理单位)."""
    rest = sentence.replace(party, "", 1)
    return any(cue in rest for cue in CUES[party])


def _value_kind(value: str) -> tuple[str, bool]:
    """Amounts and periods of one kind: the same words around the numbers, the same style of numeral."""
    return _NUMBER.sub("#", value), bool(re.search(r"\d", value))


def _statute_articles(retriever: Retriever, penalty: bool) -> Iterator[tuple[str, str, str]]:
    """(doc, label, text after the label) of the statutes' articles (training notes left out)."""
    snapshot = retriever.snapshot
    for (doc, label), positions in snapshot.by_article.items():
        chunk = snapshot.chunks[positions[0]]
        if chunk.kind == "training" or chunk.penalty != penalty or not label.startswith("第"):
            continue
        yield doc, label, snapshot.article_text(doc, label)[len(label):].strip()


def _duties(retriever: Retriever, matcher: RoleMatcher) -> list[tuple[_Provision, tuple[str, ...]]]:
    """Every duty sentence of the statutes with the parties it obliges."""
    return [(_Provision(doc, label, o.text.strip()), o.roles)
            for doc, label, text in _statute_articles(retriever, penalty=False) for o in matcher.obligations(text)]


def _obligations(duties: list[tuple[_Provision, tuple[str, ...]]]) -> Iterator[tuple[_Provision, str]]:
    """(provision, party) for self-contained duty sentences that oblige exactly one of the six parties."""
    for provision, roles in duties:
        sentence = provision.text
        if len(roles) != 1 or roles[0] not in PARTIES:
            continue
        if not 15 <= len(sentence) <= STEM_LIMIT or _ITEM.match(sentence) or not _self_contained(sentence):
            continue
        yield provision, roles[0]


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def _sentences(retriever: Retriever) -> list[tuple[str, set[str]]]:
    """Every sentence of the statutes' duty articles with its bigrams."""
    out = []
    for _, _, text in _statute_articles(retriever, penalty=False):
        for sentence in re.findall(r"[^。；\n]+", text):
            out.append((sentence, _bigrams(sentence)))
    return out


def _also_obliged(provision: _Provision, party: str, sentences: list[tuple[str, set[str]]]) -> set[str]:
    """Parties named in a provision elsewhere that says much the same (从事勘察、设计的单位应当依法取得
    相应等级的资质证书… beside 施工单位应当…): for them it may be true as well, so they cannot be distractors."""
    mine = _bigrams(provision.text.replace(party, ""))
    found: set[str] = set()
    for sentence, theirs in sentences:
        if party in sentence and provision.text.startswith(sentence[:10]):
            continue  # the provision itself
        if mine and len(mine & theirs) / len(mine | theirs) >= SAME_DUTY:
            found.update(p for p in PARTIES if p != party and (p in sentence or any(c in sentence for c in CUES[p])))
    return found


def _party_questions(retriever: Retriever, rng: random.Random) -> list[Question]:
    """Which party bears a duty (a blank where it is named), and true/false statements half of them true."""
    matcher = RoleMatcher({p: retriever.glossary.roles.get(p, [p]) for p in PARTIES})
    duties = _duties(retriever, matcher)
    sentences = _sentences(retriever)
    candidates: list[tuple[_Provision, str, int, list[str]]] = []
    for provision, party in _obligations(duties):
        start = _subject_slot(provision.text, party)
        if start is None or _gives_away(provision.text, party):
            continue
        article = retriever.snapshot.article_text(provision.doc, provision.label)
        named = set(matcher.named(article)) | _also_obliged(provision, party, sentences)
        others = [p for p in PARTIES if p != party and p not in named and p not in article]
        if len(others) >= 3:
            candidates.append((provision, party, start, others))
    rng.shuffle(candidates)
    blanks: list[Question] = []
    statements: list[tuple[_Provision, str, list[str]]] = []
    placed: dict[str, int] = {}
    used: dict[tuple[str, str], set[str]] = {}
    for provision, party, start, others in candidates:  # as many blanks as statements, one of each per article
        kinds = used.setdefault((provision.doc, provision.label), set())
        preferred = ["blank", "tf"] if len(blanks) <= len(statements) else ["tf", "blank"]
        kind = next((k for k in preferred if k not in kinds), None)
        if kind is None:
            continue
        kinds.add(kind)
        if kind == "tf":
            statements.append((provision, party, others))
            continue
        options = _place(party, rng.sample(others, 3), placed, party)
        blank = provision.text[:start] + "（  ）" + provision.text[start + len(party):]
        blanks.append(Question(
            id=_id(provision.doc, provision.label, "party", provision.text), type="single",
            question=f"依据《{provision.doc}》{provision.label}：{blank}\n括号中应是哪一方？",
            options=tuple(options), answer=(options.index(party),),
            explanation=f"原文：{provision.text}"[:200], doc=provision.doc, loc=provision.label,
            topic="义务主体", roles=(party,), difficulty=2, generated=True,
        ))
    # True and false in equal numbers: the provision as written, or another party in its place.
    rng.shuffle(statements)
    truefalse: list[Question] = []
    for n, (provision, party, others) in enumerate(statements):
        true = n % 2 == 0
        swapped = rng.choice(others)
        statement = provision.text if true else provision.text.replace(party, swapped, 1)
        explanation = (f"正确。原文：{provision.text}" if true
                       else f"错误。原文规定的是{party}，不是{swapped}：{provision.text}")
        truefalse.append(Question(
            id=_id(provision.doc, provision.label, "tf", statement), type="truefalse",
            question=f"依据《{provision.doc}》{provision.label}，判断：{statement}", options=("正确", "错误"),
            answer=(0 if true else 1,), explanation=explanation[:200], doc=provision.doc, loc=provision.label,
            topic="义务主体", roles=(party,), difficulty=2, generated=True,
        ))
    return blanks + truefalse


def _penalty_stems(retriever: Retriever, rng: random.Random) -> Iterator[tuple[_Provision, str]]:
    """(provision with the amount in it, amount): the clause from the start of its paragraph, so that it
    names the party and the conduct; a 有下列行为之一的 lead is joined to one of its items."""
    for doc, label, text in _statute_articles(retriever, penalty=True):
        paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
        if not paragraphs or _DEPENDENT.match(paragraphs[0]):
            continue
        match = _AMOUNT.search(paragraphs[0])
        if match is None:
            continue
        value = match.group("value")
        stem = paragraphs[0][: match.end()]
        if _LIST_LEAD.search(stem):
            items = [p for p in paragraphs[1:] if _ITEM.match(p)]
            item = _ITEM.sub("", rng.choice(items)).rstrip("；;。.，") if items else ""
            if not item.endswith("的") or not _self_contained(item) or item[:4] in stem:
                continue  # (an item that repeats the lead reads badly)
            stem = stem.replace(_LIST_LEAD.search(stem).group(0), item, 1)
        before = stem[: stem.rfind(value)]
        if "的，" not in before or not _PERSON.search(before) or not _self_contained(stem):
            continue  # the conduct or the party is not named
        if _OTHER_VALUE.search(before) or len(stem) > STEM_LIMIT:
            continue  # another amount beside the blank would hint at it
        yield _Provision(doc, label, stem + "。"), value


def _period_stems(retriever: Retriever) -> tuple[list[tuple[_Provision, str]], list[str]]:
    """(self-contained sentence that names a party, its one time limit), and every time limit of the statutes
    (the distractors' pool)."""
    matcher = RoleMatcher(retriever.glossary.roles)
    stems: list[tuple[_Provision, str]] = []
    pool: list[str] = []
    for doc, label, text in _statute_articles(retriever, penalty=False):
        pool.extend(_PERIOD.findall(text))
        for sentence in re.findall(r"[^。；\n]+[。；]?", text):
            sentence = sentence.strip()
            found = _PERIOD.findall(sentence)
            if len(found) != 1 or sentence.count(found[0]) != 1 or not 15 <= len(sentence) <= STEM_LIMIT:
                continue
            if _self_contained(sentence) and not _ITEM.match(sentence) and matcher.named(sentence):
                stems.append((_Provision(doc, label, sentence.rstrip("；") + ("" if sentence.endswith("。") else "。")),
                              found[0]))
    return stems, pool


def _value_questions(items: list[tuple[_Provision, str]], pool: list[str], kind: str, topic: str,
                     rng: random.Random) -> list[Question]:
    """Fill in an amount or period; distractors are values of the same kind found elsewhere in the corpus."""
    placed: dict[str, int] = {}
    values: dict[tuple[str, bool], set[str]] = {}
    for value in pool:
        values.setdefault(_value_kind(value), set()).add(value)
    out = []
    for provision, value in items:
        pool = sorted(values[_value_kind(value)] - {value})
        if len(pool) < 3:
            continue
        options = _place(value, rng.sample(pool, 3), placed, kind)
        stem = provision.text.replace(value, "（  ）", 1)
        question = (f"依据《{provision.doc}》{provision.label}：{stem}\n括号中应是"
                    + ("多少罚款？" if kind == "amount" else "多长期限？"))
        out.append(Question(
            id=_id(provision.doc, provision.label, kind, provision.text), type="single", question=question,
            options=tuple(options), answer=(options.index(value),), explanation=f"原文：{provision.text}"[:200],
            doc=provision.doc, loc=provision.label, topic=topic, roles=(), difficulty=3, generated=True,
        ))
    return out


def generate_questions(retriever: Retriever, limit: int = 400, seed: int = 7) -> list[Question]:
    """Up to ``limit`` questions from the indexed statutes (the same ones for the same index and seed)."""
    rng = random.Random(seed)
    questions = _party_questions(retriever, rng)
    amounts = list(_penalty_stems(retriever, rng))
    questions += _value_questions(amounts, [value for _, value in amounts], "amount", "法律责任", rng)
    periods, pool = _period_stems(retriever)
    questions += _value_questions(periods, pool, "period", "期限", rng)
    unique = {q.id: q for q in questions if all(len(o) <= 100 for o in q.options) and len(q.question) <= 290}
    out = list(unique.values())
    rng.shuffle(out)
    return out[:limit]
