"""YAML loading that refuses duplicate keys (PyYAML silently keeps the last one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DuplicateKeyError(ValueError):
    """A mapping in a YAML file defines the same key twice."""


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that raises :class:`DuplicateKeyError` on a repeated mapping key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise DuplicateKeyError(f"duplicate key {key!r} at line {line}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file with :class:`UniqueKeyLoader`."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506
