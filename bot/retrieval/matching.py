"""Dictionary matching in Chinese text, where words are not separated by spaces."""

from __future__ import annotations

from collections.abc import Iterable


def longest_matches(text: str, keys: Iterable[str]) -> list[tuple[str, int]]:
    """(key, start) of every occurrence of ``keys`` in ``text``: longer keys win, matches never overlap.

    In position order. 广东省建设工程质量管理条例 is one match, not also 建设工程质量管理条例 inside it.
    """
    taken = [False] * len(text)
    found: list[tuple[str, int]] = []
    for key in sorted(set(keys), key=len, reverse=True):
        if not key:
            continue
        start = text.find(key)
        while start != -1:
            span = range(start, start + len(key))
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                found.append((key, start))
            start = text.find(key, start + 1)
    return sorted(found, key=lambda match: match[1])
