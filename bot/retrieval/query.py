"""Query understanding: explicit article references, document names, region, penalty intent, jargon."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.numerals import NUM_PATTERN, article_label, to_int
from bot.retrieval.glossary import Glossary
from bot.retrieval.matching import longest_matches

_REF = re.compile(rf"(?:《([^》]{{2,80}})》)?\s*第({NUM_PATTERN})条(之[一二三四五六七八九十]+)?")
_BRACKETED = re.compile(r"《([^《》]{2,60})》")
_NATIONAL_PREFIX = "中华人民共和国"


@dataclass
class QueryPlan:
    """What a question asks for, beyond its words."""

    text: str
    expansions: list[str] = field(default_factory=list)
    docs: list[str] = field(default_factory=list)  # titles the question names
    refs: list[tuple[str | None, str]] = field(default_factory=list)  # (title or None, 第X条)
    penalty: bool = False
    definition: bool = False
    roles: list[str] = field(default_factory=list)  # parties the question names (我是监理 -> 工程监理单位)
    region: str | None = None  # "local" or "national"
    unknown_laws: list[str] = field(default_factory=list)  # laws the question names that are not indexed

    @property
    def expanded_text(self) -> str:
        return " ".join([self.text, *self.expansions])


class DocumentNames:
    """Resolves the names people give documents (full title, short title, glossary aliases)."""

    def __init__(self, titles: list[str], glossary: Glossary) -> None:
        self.titles = list(titles)
        self.alias_to_title: dict[str, str] = {}
        for title in titles:
            self.alias_to_title[title] = title
            if title.startswith(_NATIONAL_PREFIX):
                self.alias_to_title.setdefault(title[len(_NATIONAL_PREFIX):], title)
        for title, aliases in glossary.documents.items():
            if title in titles:
                for alias in aliases:
                    self.alias_to_title.setdefault(alias, title)
        self._aliases = list(self.alias_to_title)

    def resolve(self, name: str) -> str | None:
        """A title for a name given in 《》 or free text; None when nothing fits."""
        name = name.strip()
        if name in self.alias_to_title:
            return self.alias_to_title[name]
        bare = name.removeprefix(_NATIONAL_PREFIX)
        candidates = [t for t in self.titles if bare and bare in t]
        return min(candidates, key=len) if candidates else None

    def mentions(self, text: str) -> list[tuple[int, str]]:
        """(position, title) of document names in ``text``, longest names first, no overlaps."""
        return [(start, self.alias_to_title[alias]) for alias, start in longest_matches(text, self._aliases)]

    def localise(self, title: str) -> str:
        """The Guangdong counterpart of a national title, when one is indexed (质量管理条例 -> 广东省…)."""
        core = title.removeprefix(_NATIONAL_PREFIX)
        for other in self.titles:
            if other != title and other.startswith("广东") and core in other:
                return other
        return title


def analyse(text: str, names: DocumentNames, glossary: Glossary) -> QueryPlan:
    """Build the :class:`QueryPlan` of a question."""
    plan = QueryPlan(text=text, expansions=glossary.expand(text))
    if any(cue in text for cue in glossary.local_cues):
        plan.region = "local"
    elif any(cue in text for cue in glossary.national_cues):
        plan.region = "national"
    mentions = names.mentions(text)
    if plan.region == "local":
        mentions = [(pos, names.localise(title)) for pos, title in mentions]
    plan.docs = list(dict.fromkeys(title for _, title in mentions))
    for match in _REF.finditer(text):
        number = to_int(match.group(2))
        if number is None or number <= 0:
            continue
        label = article_label(number, match.group(3) or "")
        title: str | None = None
        if match.group(1):
            title = names.resolve(match.group(1))
        else:
            before = [t for pos, t in mentions if pos < match.start()]
            title = before[-1] if before else (plan.docs[0] if len(plan.docs) == 1 else None)
        plan.refs.append((title, label))
    plan.unknown_laws = unknown_laws(text, names, glossary)
    plan.penalty = glossary.has_penalty_cue(text)
    plan.definition = glossary.has_definition_cue(text)
    plan.roles = glossary.roles_in(text)
    return plan


def unknown_laws(text: str, names: DocumentNames, glossary: Glossary) -> list[str]:
    """Laws a question names that the knowledge does not hold: a 《title》 that resolves to no indexed
    document, or one of the glossary's ``other_laws`` (民法典, 劳动合同法 …) named without brackets."""
    found = [name for name in _BRACKETED.findall(text) if names.resolve(name) is None]
    unbracketed = _BRACKETED.sub(" ", text)
    for law, _ in longest_matches(unbracketed, glossary.other_laws):
        if names.resolve(law) is None and law not in found:
            found.append(law)
    return found
