"""Build a new index version from document files, incrementally, and switch to it atomically."""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import bm25s
import numpy as np

from bot.ingest import Chunk, Document, IngestError, discover_files, load_document
from bot.ingest.models import article_texts
from bot.retrieval.embedders import Embedder
from bot.retrieval.embedding_cache import EmbeddingCache
from bot.retrieval.glossary import Glossary
from bot.retrieval.integrity import IndexDamaged, verify
from bot.retrieval.links import build_links
from bot.retrieval.phrasing_writer import PhrasingWriter, write_missing
from bot.retrieval.phrasings import Phrasing, attach, normalise, read_phrasing_files
from bot.retrieval.store import VersionData, current_version, prune_versions, write_version
from bot.retrieval.tokenizer import Tokenizer

Progress = Callable[[str], None]
SCHEMA = 2
_NATIONAL_PREFIX = "中华人民共和国"


class IndexBusy(Exception):
    """Another re-index holds the lock."""


@dataclass
class BuildReport:
    version: str
    documents: int
    chunks: int
    embedded: int  # chunks whose vectors were computed (not taken from the cache)
    reused_documents: int  # unchanged files taken from the previous version without parsing
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    phrasings: int = 0  # phrasings indexed (curated and, with an LLM, written for uploaded documents)
    phrasing_problems: list[str] = field(default_factory=list)  # entries ignored: changed article, bad answer …
    seconds: float = 0.0


# What the embedder sees of an article: its opening, which says what it is about (the rest is BM25's), and the
# phrasings in the voices that do not echo the statute (exam-style ones are close to its words: BM25 finds them).
# Both keep the full index of the reference corpus within its time budget (the encoder costs ~1 ms a token).
PASSAGE_CHARS = 150
DENSE_VOICES = {"site", "fragment"}


def passage_text(chunk: Chunk) -> str:
    return chunk.text[:PASSAGE_CHARS]


def search_text(chunk: Chunk) -> str:
    """What BM25 and the embedder see: title and chapter give an article its context."""
    return f"{chunk.doc} {chunk.chapter}\n{chunk.text}"


def make_tokenizer(glossary: Glossary, titles: list[str]) -> Tokenizer:
    """The tokenizer for BM25: jieba with the glossary's words and the document titles."""
    return Tokenizer(sorted(glossary.vocabulary() | set(titles)))


def parser_digest() -> str:
    """Fingerprint of the ingestion code: parsed documents are reused only if it is unchanged."""
    import bot.ingest as ingest_package

    digest = hashlib.sha256()
    for source in sorted(Path(ingest_package.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def glossary_digest(glossary: Glossary) -> str:
    data = json.dumps(sorted(glossary.vocabulary()), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()[:16]


@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusy("另一个索引任务正在进行") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _previous_documents(index_dir: Path) -> tuple[dict[str, dict], dict[str, list[Chunk]]]:
    """Documents of the version being served, by path, with their chunks."""
    version = current_version(index_dir)
    if not version:
        return {}, {}
    path = index_dir / "versions" / version
    try:
        manifest = verify(path)  # only an intact version's parsed documents are reused
        chunks_by_doc: dict[str, list[Chunk]] = {}
        with open(path / "chunks.jsonl", encoding="utf-8") as fh:
            for line in fh:
                chunk = Chunk(**json.loads(line))
                chunks_by_doc.setdefault(chunk.doc, []).append(chunk)
    except (IndexDamaged, OSError, ValueError, TypeError):
        return {}, {}
    if manifest.get("schema") != SCHEMA or manifest.get("parser") != parser_digest():
        return {}, {}
    docs = {d["path"]: d for d in manifest.get("documents", [])}
    return docs, chunks_by_doc


def _dedupe_titles(documents: list[Document], errors: list[tuple[str, str]]) -> list[Document]:
    """Two files with one title: keep the newer version date (else the later file)."""
    best: dict[str, Document] = {}
    for doc in documents:
        other = best.get(doc.title)
        if other is None or (doc.date, doc.path) > (other.date, other.path):
            if other is not None:
                errors.append((other.path, f"与 {Path(doc.path).name} 同名，已采用较新的版本"))
            best[doc.title] = doc
        else:
            errors.append((doc.path, f"与 {Path(other.path).name} 同名，已采用较新的版本"))
    return list(best.values())


def title_resolver(titles: list[str]) -> Callable[[str], str | None]:
    """Maps a document name to an indexed title, with or without the 中华人民共和国 prefix."""
    known = set(titles)

    def resolve(name: str) -> str | None:
        for candidate in (name, _NATIONAL_PREFIX + name, name.removeprefix(_NATIONAL_PREFIX)):
            if candidate in known:
                return candidate
        return None

    return resolve


def build_index(
    paths: list[Path],
    index_dir: Path,
    embedder: Embedder,
    glossary: Glossary,
    progress: Progress = lambda message: None,
    batch_size: int = 16,  # small batches: questions share the encoder and wait for at most one batch
    phrasings_dir: Path | None = None,
    ranker: dict | None = None,
    writer: PhrasingWriter | None = None,
) -> BuildReport:
    """Index the documents under ``paths`` into a new version of ``index_dir`` and serve it.

    Unchanged files are taken from the served version; chunk vectors come from the embedding cache
    where possible. Nothing the served version uses is touched until the final atomic switch.
    ``phrasings_dir`` holds how people ask about each article; ``ranker`` is the fitted model the version
    serves with; ``writer`` (an LLM) writes phrasings for documents that have none.
    """
    started = time.perf_counter()
    with index_lock(index_dir):
        files, skipped = discover_files(paths)
        errors: list[tuple[str, str]] = [(str(p), reason) for p, reason in skipped]
        previous_docs, previous_chunks = _previous_documents(index_dir)
        documents: list[Document] = []
        reused = 0
        added: list[str] = []
        changed: list[str] = []
        for n, file in enumerate(files, start=1):
            key = str(file)
            old = previous_docs.get(key)
            try:
                data_hash = hashlib.sha256(file.read_bytes()).hexdigest()
            except OSError as exc:
                errors.append((key, f"无法读取文件（{exc.strerror}）"))
                continue
            if old and old["sha256"] == data_hash and old["title"] in previous_chunks:
                doc = Document(old["title"], old["kind"], key, data_hash, old.get("date", ""),
                               previous_chunks[old["title"]])
                reused += 1
            else:
                progress(f"解析 [{n}/{len(files)}] {file.name}")
                try:
                    doc = load_document(file)
                except IngestError as exc:
                    errors.append((key, str(exc)))
                    continue
                (changed if old else added).append(doc.title)
            documents.append(doc)
        documents = _dedupe_titles(documents, errors)
        removed = sorted(
            d["title"] for p, d in previous_docs.items() if p not in {doc.path for doc in documents}
        )
        chunks = [c for doc in documents for c in doc.chunks]

        progress(f"分词与 BM25：{len(chunks)} 个条文块")
        titles = [d.title for d in documents]
        tokenizer = make_tokenizer(glossary, titles)
        corpus_tokens = [tokenizer.tokens(search_text(c)) or ["∅"] for c in chunks]
        bm25 = bm25s.BM25()
        if chunks:
            bm25.index(corpus_tokens, show_progress=False)

        phrasing_files, phrasing_problems = read_phrasing_files(phrasings_dir)
        articles = article_texts(chunks)
        attached = attach(phrasing_files, articles, title_resolver(titles))
        phrasing_problems.extend(attached.problems)
        phrasings = attached.phrasings
        if writer is not None:
            covered = {p.doc for p in phrasings}
            phrasings += write_missing(writer, articles, covered, index_dir / "phrasings_cache.sqlite", progress)

        vectors, embedded = _embed(
            [passage_text(c) for c in chunks], [_text_hash(passage_text(c)) for c in chunks], index_dir, embedder,
            progress, batch_size, passages=True)
        dense = [p for p in phrasings if p.voice in DENSE_VOICES]
        dense_vectors, _ = _embed(
            [p.question for p in dense], [_text_hash(p.question) for p in dense], index_dir, embedder,
            progress, batch_size * 4, passages=False)
        phrasing_vectors = np.zeros((len(phrasings), embedder.dim), dtype=np.float32)
        phrasing_vectors[[i for i, p in enumerate(phrasings) if p.voice in DENSE_VOICES]] = dense_vectors
        lexical = {"bigrams": _bm25([char_bigrams(c.text) for c in chunks])} if chunks else {}
        if phrasings:
            lexical["phrasings"] = _bm25([tokenizer.tokens(p.question) for p in phrasings])
            lexical["phrasing_bigrams"] = _bm25([char_bigrams(p.question) for p in phrasings])
        links = build_links(chunks, tokenizer)
        terms = index_terms(chunks, phrasings, tokenizer)

        name = datetime.now(UTC).strftime("v%Y%m%d-%H%M%S-%f")
        ranker = ranker or {}
        manifest = {
            "schema": SCHEMA,
            "version": name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "embedder": {"id": embedder.id, "dim": embedder.dim},
            "parser": parser_digest(),
            "glossary": glossary_digest(glossary),
            "ranker": {"id": ranker.get("id", ""), "embedder": ranker.get("embedder", "")},
            "sources": [str(p) for p in paths],
            "documents": [d.meta() for d in documents],
            "errors": [{"path": p, "reason": r} for p, r in errors],
            "chunks": len(chunks),
            "phrasings": len(phrasings),
            "phrasing_problems": phrasing_problems,
        }
        progress("写入新版本并切换")
        write_version(index_dir, name, VersionData(
            manifest, chunks, vectors, bm25, links, phrasings, phrasing_vectors, lexical, ranker, terms))
        prune_versions(index_dir)
    return BuildReport(
        version=name, documents=len(documents), chunks=len(chunks), embedded=embedded,
        reused_documents=reused, added=added, changed=changed, removed=removed, errors=errors,
        phrasings=len(phrasings), phrasing_problems=phrasing_problems, seconds=time.perf_counter() - started,
    )


def index_terms(chunks: list[Chunk], phrasings: list[Phrasing], tokenizer: Tokenizer) -> dict:
    """The words of every article (with its title and chapter) and of every phrasing, computed once at index
    time so that loading an index does not segment the whole corpus again."""
    texts = article_texts(chunks)
    first: dict[tuple[str, str], Chunk] = {}
    for chunk in chunks:
        first.setdefault((chunk.doc, chunk.label), chunk)
    return {
        "articles": {f"{doc}\n{label}": sorted(set(tokenizer.tokens(f"{doc} {first[(doc, label)].chapter}\n{text}")))
                     for (doc, label), text in texts.items()},
        "phrasings": [sorted(set(tokenizer.tokens(p.question))) for p in phrasings],
    }


def char_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of the text without spaces and punctuation: robust to how jieba segments
    a word and to a typo in one character."""
    text = normalise(text).lower()
    return [text[i:i + 2] for i in range(len(text) - 1)]


def _bm25(corpus: list[list[str]]) -> bm25s.BM25:
    index = bm25s.BM25()
    index.index([tokens or ["∅"] for tokens in corpus], show_progress=False)
    return index


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _embed(
    texts: list[str], hashes: list[str], index_dir: Path, embedder: Embedder, progress: Progress,
    batch_size: int, passages: bool,
) -> tuple[np.ndarray, int]:
    """Vectors of ``texts`` (articles as passages, phrasings as queries), taken from the cache where possible.

    Returns the matrix and how many texts were embedded afresh.
    """
    cache = EmbeddingCache(index_dir / "embeddings.sqlite")
    cache_id = embedder.id if passages else f"{embedder.id}#query"
    embed = embedder.embed_passages if passages else embedder.embed_queries
    what = "条文" if passages else "问法"
    try:
        known = cache.get_many(cache_id, hashes)
        first = {h: i for i, h in reversed(list(enumerate(hashes)))}  # one embedding per distinct text
        missing = sorted(i for h, i in first.items() if h not in known)
        for start in range(0, len(missing), batch_size):
            batch = missing[start:start + batch_size]
            progress(f"向量化{what} {min(start + batch_size, len(missing))}/{len(missing)}")
            vectors = embed([texts[i] for i in batch])
            fresh = {hashes[i]: vectors[j] for j, i in enumerate(batch)}
            cache.put_many(cache_id, fresh)  # committed per batch: a killed run keeps its work
            known.update(fresh)
        matrix = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        for i, digest in enumerate(hashes):
            matrix[i] = known[digest]
        return matrix, len(missing)
    finally:
        cache.close()
