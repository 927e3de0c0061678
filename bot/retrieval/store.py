"""On-disk index versions and the atomic switch between them.

Layout of the index directory::

    CURRENT                 name of the version being served (replaced atomically)
    versions/<name>/        manifest.json, chunks.jsonl, vectors.faiss, links.json, bm25/ (words of articles),
                            phrasings.jsonl, phrasing_vectors.faiss, lexical/<field>/ (further BM25 fields:
                            phrasings, article and phrasing character bigrams), ranker.json
    embeddings.sqlite       the embedding cache (articles as passages, phrasings as queries)

Every file of a version is checksummed in its manifest and made durable before CURRENT moves; loading
verifies them and falls back to the newest good version (:mod:`bot.retrieval.integrity`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import faiss
import numpy as np

from bot.ingest.models import Chunk, join_parts
from bot.retrieval.integrity import (
    CURRENT,
    DAMAGED,
    VERSIONS,
    IndexDamaged,
    current_version,
    finished_versions,
    fsync_dir,
    seal,
    set_aside,
    switch_current,
    verify,
)
from bot.retrieval.phrasings import Phrasing

log = logging.getLogger(__name__)
__all__ = ["CURRENT", "VERSIONS", "IndexDamaged", "IndexMissing", "IndexSnapshot", "VersionData", "current_version",
           "load_snapshot", "prune_versions", "write_version"]


class IndexMissing(Exception):
    """No usable index in this directory (none built yet, or every version damaged)."""


@dataclass
class IndexSnapshot:
    """One loaded, immutable index version."""

    version: str
    path: Path
    manifest: dict
    chunks: list[Chunk]
    vectors: faiss.Index
    bm25: bm25s.BM25
    links: dict[str, list[str]] = field(default_factory=dict)
    phrasings: list[Phrasing] = field(default_factory=list)
    phrasing_vectors: faiss.Index | None = None
    lexical: dict[str, bm25s.BM25] = field(default_factory=dict)  # further BM25 fields by name
    ranker: dict = field(default_factory=dict)  # the fitted ranking and abstention model it serves with
    terms: dict = field(default_factory=dict)  # words of every article and phrasing (see indexer.index_terms)

    def __post_init__(self) -> None:
        self.position = {c.id: i for i, c in enumerate(self.chunks)}
        self.by_article: dict[tuple[str, str], list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            self.by_article.setdefault((chunk.doc, chunk.label), []).append(i)

    @property
    def documents(self) -> list[dict]:
        return list(self.manifest.get("documents", []))

    def article_text(self, doc: str, label: str) -> str:
        """The whole article (all parts joined, the repeated head once)."""
        return join_parts([self.chunks[i].text for i in self.by_article.get((doc, label), [])])


@dataclass
class VersionData:
    """Everything one index version holds, ready to be written."""

    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray
    bm25: bm25s.BM25
    links: dict[str, list[str]]
    phrasings: list[Phrasing] = field(default_factory=list)
    phrasing_vectors: np.ndarray | None = None
    lexical: dict[str, bm25s.BM25] = field(default_factory=dict)
    ranker: dict = field(default_factory=dict)
    terms: dict = field(default_factory=dict)


def _write_faiss(path: Path, vectors: np.ndarray | None, dim: int) -> None:
    index = faiss.IndexFlatIP(dim)
    if vectors is not None and len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(path))


def write_version(index_dir: Path, name: str, data: VersionData) -> Path:
    """Write a complete version next to the others, then switch CURRENT to it atomically."""
    versions = index_dir / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    staging = versions / f".tmp-{name}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    dim = int(data.manifest["embedder"]["dim"])
    with open(staging / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for chunk in data.chunks:
            fh.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    _write_faiss(staging / "vectors.faiss", data.vectors, dim)
    data.bm25.save(str(staging / "bm25"), show_progress=False)
    (staging / "links.json").write_text(json.dumps(data.links, ensure_ascii=False), encoding="utf-8")
    with open(staging / "phrasings.jsonl", "w", encoding="utf-8") as fh:
        for phrasing in data.phrasings:
            fh.write(json.dumps(phrasing.to_dict(), ensure_ascii=False) + "\n")
    _write_faiss(staging / "phrasing_vectors.faiss", data.phrasing_vectors, dim)
    for field_name, lexical in data.lexical.items():
        lexical.save(str(staging / "lexical" / field_name), show_progress=False)
    (staging / "ranker.json").write_text(json.dumps(data.ranker, ensure_ascii=False), encoding="utf-8")
    (staging / "terms.json").write_text(json.dumps(data.terms, ensure_ascii=False), encoding="utf-8")
    # The manifest goes last, with the checksum of every file; all of it durable before the switch.
    seal(staging, data.manifest)
    final = versions / name
    os.replace(staging, final)
    fsync_dir(versions)
    switch_current(index_dir, name)
    return final


def prune_versions(index_dir: Path, keep: int = 2) -> None:
    """Remove unfinished staging folders and all but the newest ``keep`` versions (never CURRENT)."""
    versions = index_dir / VERSIONS
    if not versions.exists():
        return
    current = current_version(index_dir)
    finished = sorted(p for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    for path in versions.iterdir():
        if path.name.startswith((".tmp-", DAMAGED)):
            shutil.rmtree(path, ignore_errors=True)
    for path in finished[:-keep] if keep else finished:
        if path.name != current:
            shutil.rmtree(path, ignore_errors=True)


def load_snapshot(index_dir: Path, version: str | None = None, repair: bool = True) -> IndexSnapshot:
    """Load and verify a named version, or the current one.

    Without a name, a damaged current version falls back to the newest good one: with ``repair`` the
    damaged version is set aside and CURRENT moved to the good one (logged); raises IndexMissing when no
    good version is left. A named version is loaded as it is or raises IndexDamaged.
    """
    if version is not None:
        return _load(index_dir / VERSIONS / version)
    current = current_version(index_dir)
    if current is None:
        raise IndexMissing(str(index_dir))
    candidates = [current] + [v for v in finished_versions(index_dir) if v != current]
    for name in candidates:
        try:
            snapshot = _load(index_dir / VERSIONS / name)
        except IndexDamaged as exc:
            if repair:
                set_aside(index_dir, name, str(exc))
            else:
                log.warning("index version %s is damaged: %s", name, exc)
            continue
        if name != current:
            log.warning("serving index version %s instead of the damaged %s", name, current)
            if repair:
                switch_current(index_dir, name)
        return snapshot
    raise IndexMissing(f"{index_dir}: no intact index version")


def _load(path: Path) -> IndexSnapshot:
    """One version, verified against its manifest; IndexDamaged when anything is wrong with it."""
    if not path.is_dir():
        raise IndexDamaged(f"{path.name}: the version directory is missing")
    manifest = verify(path)
    try:
        return _read(path, manifest)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise IndexDamaged(f"{path.name}: {type(exc).__name__}: {exc}") from exc


def _read(path: Path, manifest: dict) -> IndexSnapshot:
    with open(path / "chunks.jsonl", encoding="utf-8") as fh:
        chunks = [Chunk(**json.loads(line)) for line in fh if line.strip()]
    vectors = faiss.read_index(str(path / "vectors.faiss"))
    if vectors.ntotal != len(chunks):
        raise ValueError(f"{vectors.ntotal} vectors for {len(chunks)} chunks")
    bm25 = bm25s.BM25.load(str(path / "bm25"), show_progress=False) if chunks else bm25s.BM25()
    links = json.loads((path / "links.json").read_text(encoding="utf-8"))
    phrasings: list[Phrasing] = []
    with open(path / "phrasings.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                item = json.loads(line)
                phrasings.append(Phrasing(item["doc"], item["label"], item["q"], item["answer"], item["voice"]))
    phrasing_vectors = faiss.read_index(str(path / "phrasing_vectors.faiss"))
    lexical = {field.name: bm25s.BM25.load(str(field), show_progress=False)
               for field in sorted((path / "lexical").iterdir())} if (path / "lexical").is_dir() else {}
    ranker = json.loads((path / "ranker.json").read_text(encoding="utf-8"))
    terms_file = path / "terms.json"
    terms = json.loads(terms_file.read_text(encoding="utf-8")) if terms_file.exists() else {}
    return IndexSnapshot(path.name, path, manifest, chunks, vectors, bm25, links, phrasings, phrasing_vectors,
                         lexical, ranker, terms)
