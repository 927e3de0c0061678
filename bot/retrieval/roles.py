"""Who an article obliges: the parties named as the subject of 应当/必须/不得 … sentences."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.retrieval.matching import longest_matches

MODAL = re.compile(r"应当|必须|不得|禁止|严禁|不准|有权|负责")
_ITEM = re.compile(r"^[（(][一二三四五六七八九十\d]+[）)]")
_SENTENCE = re.compile(r"[^。！？]+[。！？]?")
# 勘察、设计、施工、工程监理单位 -> each party of the enumeration
_ENUMERATION = re.compile(r"((?:[\u4e00-\u9fff]{2,6}、)+[\u4e00-\u9fff]{2,8}(?:单位|机构))")


_CONNECTOR = re.compile(r"、|和|及|与|或|或者|以及|及其|、以及|、或者")
_OBJECT_MARKERS = ("设立", "发现", "向", "与", "给", "对", "由", "委托", "要求")
_OTHER_SUBJECTS = ("由", "部门", "机关", "人民政府", "机构对")


@dataclass(frozen=True)
class Obligation:
    """One sentence (or item) that places a duty on ``roles``."""

    roles: tuple[str, ...]
    text: str


class RoleMatcher:
    """Finds the roles named before the modal verb of a sentence."""

    def __init__(self, roles: dict[str, list[str]]) -> None:
        self.roles = roles
        self._alias_role = {alias: role for role, aliases in roles.items() for alias in {role, *aliases}}

    def named(self, text: str) -> tuple[str, ...]:
        """Roles named in ``text`` (longest alias first, no overlapping matches)."""
        return tuple(role for role, _, _ in self._matches(text))

    def subjects(self, prefix: str) -> tuple[str, ...]:
        """Roles that are the subject of the clause ``prefix`` leads into (the text before 应当/不得 …).

        A role is not the subject when it is the object of 设立/向/与/由…, or when an authority (部门, 机关)
        or 由 stands between it and the modal verb. The subject is the first party named and those listed with
        it (勘察、设计和施工单位); a party named later in the clause is an object (…与施工单位有利害关系的).
        """
        expanded = _ENUMERATION.sub(lambda m: self._expand(m.group(1)), prefix)
        out: list[str] = []
        last_end = -1
        for role, start, end in self._matches(prefix):
            before = expanded[max(0, start - 2): start]
            after = expanded[end:]
            if any(w in before for w in _OBJECT_MARKERS) or any(w in after for w in _OTHER_SUBJECTS):
                continue
            if out and not _CONNECTOR.fullmatch(expanded[last_end:start]):
                break
            out.append(role)
            last_end = end
        return tuple(out)

    def _matches(self, text: str) -> list[tuple[str, int, int]]:
        """(role, start, end) of the first mention of each role, in position order."""
        expanded = _ENUMERATION.sub(lambda m: self._expand(m.group(1)), text)
        found: dict[str, tuple[str, int, int]] = {}
        for alias, start in longest_matches(expanded, self._alias_role):
            role = self._alias_role[alias]
            found.setdefault(role, (role, start, start + len(alias)))
        return sorted(found.values(), key=lambda f: f[1])

    @staticmethod
    def _expand(enumeration: str) -> str:
        parts = enumeration.split("、")
        suffix = "单位" if parts[-1].endswith("单位") else "机构"
        return "、".join(p if p.endswith(suffix) else p + suffix for p in parts)

    def obligations(self, article: str) -> list[Obligation]:
        """Sentences and items of an article with the roles they oblige."""
        out: list[Obligation] = []
        lead_roles: tuple[str, ...] = ()
        for paragraph in article.split("\n"):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            if _ITEM.match(paragraph):
                if lead_roles:
                    out.append(Obligation(lead_roles, paragraph))
                continue
            lead_roles = ()
            previous: tuple[str, ...] = ()
            for sentence in _SENTENCE.findall(paragraph):
                match = MODAL.search(sentence)
                if not match:
                    continue
                roles = self.subjects(sentence[: match.start()]) or (previous if match.start() == 0 else ())
                if roles:
                    out.append(Obligation(roles, sentence.strip()))
                    previous = roles
            if paragraph.endswith(("：", ":")):
                match = MODAL.search(paragraph) or re.search(r"承担下列|履行下列|有下列", paragraph)
                if match:
                    lead_roles = self.subjects(paragraph[: match.start()])
        return out
