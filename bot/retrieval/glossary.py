"""The domain glossary (knowledge/glossary.yaml): jargon, document short names, cues."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.retrieval.matching import longest_matches
from bot.yamlio import load_yaml


@dataclass
class Glossary:
    terms: dict[str, list[str]] = field(default_factory=dict)
    documents: dict[str, list[str]] = field(default_factory=dict)
    local_cues: list[str] = field(default_factory=list)
    national_cues: list[str] = field(default_factory=list)
    penalty_cues: list[str] = field(default_factory=list)
    definition_cues: list[str] = field(default_factory=list)
    roles: dict[str, list[str]] = field(default_factory=dict)
    other_laws: list[str] = field(default_factory=list)  # laws people name that the knowledge does not hold

    @classmethod
    def load(cls, path: Path | None) -> Glossary:
        """Load the YAML file; a missing file gives an empty glossary."""
        if path is None or not Path(path).exists():
            return cls()
        data = load_yaml(Path(path)) or {}
        regions = data.get("regions") or {}
        return cls(
            terms={str(k): [str(v) for v in vs or []] for k, vs in (data.get("terms") or {}).items()},
            documents={str(k): [str(v) for v in vs or []] for k, vs in (data.get("documents") or {}).items()},
            local_cues=[str(x) for x in regions.get("local") or []],
            national_cues=[str(x) for x in regions.get("national") or []],
            penalty_cues=[str(x) for x in data.get("penalty_cues") or []],
            definition_cues=[str(x) for x in data.get("definition_cues") or []],
            roles={str(k): [str(v) for v in vs or []] for k, vs in (data.get("roles") or {}).items()},
            other_laws=[str(x) for x in data.get("other_laws") or []],
        )

    def vocabulary(self) -> set[str]:
        """Every word the glossary knows, for the tokenizer's user dictionary."""
        words = set(self.terms)
        for values in self.terms.values():
            for value in values:
                words.update(w for w in re.split(r"[、，,\s]", value) if len(w) >= 2)
                words.add(value)
        for aliases in self.documents.values():
            words.update(aliases)
        return {w for w in words if 2 <= len(w) <= 20}

    def expand(self, text: str) -> list[str]:
        """Statutory terms for the jargon found in ``text`` (longest match first, no overlaps)."""
        found: list[str] = []
        for term, _ in longest_matches(text, self.terms):
            for value in self.terms[term]:
                if value not in found and value not in text:
                    found.append(value)
        return found

    def resolve_role(self, text: str) -> str | None:
        """The role a text names: a role name, one of its aliases, or jargon that maps to one (监理, 甲方)."""
        text = text.strip()
        for role, aliases in self.roles.items():
            if text == role or text in aliases:
                return role
        candidates = [text, *self.terms.get(text, [])]
        for candidate in candidates:
            for role, aliases in self.roles.items():
                if candidate == role or candidate in aliases:
                    return role
        return None

    def roles_in(self, text: str) -> list[str]:
        """Roles named in a question, jargon included (我是监理 -> 工程监理单位)."""
        found: list[str] = []
        for role, aliases in self.roles.items():
            if any(a in text for a in [role, *aliases]):
                found.append(role)
        for term in sorted(self.terms, key=len, reverse=True):
            if term in text:
                role = self.resolve_role(term)
                if role and role not in found:
                    found.append(role)
        return found

    def has_penalty_cue(self, text: str) -> bool:
        return any(cue in text for cue in self.penalty_cues)

    def has_definition_cue(self, text: str) -> bool:
        return any(cue in text for cue in self.definition_cues)
