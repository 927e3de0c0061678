"""Hybrid retrieval: BM25 over jieba tokens plus dense vectors, shaped by the query plan."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from bot.ingest.models import Chunk
from bot.retrieval.embedders import Embedder
from bot.retrieval.glossary import Glossary
from bot.retrieval.indexer import make_tokenizer, search_text
from bot.retrieval.query import DocumentNames, QueryPlan, analyse
from bot.retrieval.roles import RoleMatcher
from bot.retrieval.store import IndexSnapshot

_DEFINES = re.compile(r"所称|是指|系指|本(?:法|条例|规定|办法)所指")


@dataclass(frozen=True)
class Weights:
    """How the signals are combined. Defaults measured on the development questions."""

    bm25: float = 0.4
    dense: float = 0.6
    named_doc: float = 0.15  # the question names the document
    region: float = 0.05  # 广东… / 国家… cue and the document's jurisdiction agree
    penalty: float = 0.10  # consequence question and a 法律责任/罚则 article
    definition: float = 0.20  # "what is / what counts as" question and a defining article
    link: float = 1.0  # share of a linked article's score that a penalty (or duty) article inherits
    reference: float = 10.0  # an explicit 第X条 reference
    role: float = 0.05  # the question names a party and the article places a duty on it
    secondary: float = 0.15  # training notes rank below the official texts they paraphrase


@dataclass
class Hit:
    """One article (parts merged) with its score."""

    chunk: Chunk
    score: float
    positions: list[int] = field(default_factory=list)

    @property
    def doc(self) -> str:
        return self.chunk.doc

    @property
    def label(self) -> str:
        return self.chunk.label


@dataclass
class SearchResult:
    """Ranked articles and the raw signals the abstention decision needs."""

    plan: QueryPlan
    hits: list[Hit]
    best_cosine: float = 0.0  # raw cosine of the best chunk by the dense model
    coverage: float = 0.0  # share of the question's words (expanded) found in the best article


class Retriever:
    """Answers ``search(question)`` from one index snapshot."""

    def __init__(
        self, snapshot: IndexSnapshot, embedder: Embedder, glossary: Glossary, weights: Weights | None = None
    ) -> None:
        if snapshot.manifest["embedder"]["id"] != embedder.id:
            raise ValueError(
                f"index was built with {snapshot.manifest['embedder']['id']}, not {embedder.id}; re-index"
            )
        self.snapshot = snapshot
        self.embedder = embedder
        self.glossary = glossary
        self.weights = weights or Weights()
        titles = [d["title"] for d in snapshot.documents]
        self.names = DocumentNames(titles, glossary)
        self.tokenizer = make_tokenizer(glossary, titles)
        chunks = snapshot.chunks
        self._penalty = np.array([c.penalty for c in chunks], dtype=bool)
        matcher = RoleMatcher(glossary.roles)
        obliged = [{r for o in matcher.obligations(c.text) for r in o.roles} for c in chunks]
        self._obliges = {role: np.array([role in roles for roles in obliged]) for role in glossary.roles}
        # Several questions may wait for the encoder at once (it serves them one by one, before index work).
        self._encoder = ThreadPoolExecutor(max_workers=4, thread_name_prefix="encoder")
        self._secondary = np.array([c.kind == "training" for c in chunks], dtype=bool)
        self._defines = np.array([bool(_DEFINES.search(c.text)) for c in chunks], dtype=bool)
        self._local = np.array([c.kind == "local_regulation" or c.doc.startswith("广东") for c in chunks])
        self._doc_ids = {t: i for i, t in enumerate(titles)}
        self._chunk_doc = np.array([self._doc_ids.get(c.doc, -1) for c in chunks])
        self._links = [
            [snapshot.position[j] for j in snapshot.links.get(c.id, []) if j in snapshot.position]
            for c in chunks
        ]
        self._matrix = (
            snapshot.vectors.reconstruct_n(0, snapshot.vectors.ntotal)
            if snapshot.vectors.ntotal else np.zeros((0, embedder.dim), dtype=np.float32)
        )

    def plan(self, question: str) -> QueryPlan:
        return analyse(question, self.names, self.glossary)

    def search(self, question: str, k: int = 10) -> list[Hit]:
        """The ``k`` best articles for ``question``, best first."""
        return self.retrieve(question, k).hits

    def retrieve(self, question: str, k: int = 10) -> SearchResult:
        """Ranked articles with the signals of how well the best one matches."""
        plan = self.plan(question)
        if not self.snapshot.chunks:
            return SearchResult(plan, [])
        tokens = self.tokenizer.tokens(plan.expanded_text)
        scores, cosine = self._scores(plan, tokens)
        hits = self._rank(scores, k)
        best = set(self.tokenizer.tokens(" ".join(search_text(self.snapshot.chunks[i]) for i in hits[0].positions)))
        wanted = set(tokens)
        return SearchResult(
            plan=plan,
            hits=hits,
            best_cosine=float(cosine.max()),
            coverage=len(wanted & best) / len(wanted) if wanted else 0.0,
        )

    def linked_positions(self, positions: list[int]) -> list[int]:
        """Chunks linked (duty <-> penalty) to any of ``positions``, in link order."""
        out: list[int] = []
        for p in positions:
            out.extend(j for j in self._links[p] if j not in out)
        return out

    def _rank(self, scores: np.ndarray, k: int) -> list[Hit]:
        chunks = self.snapshot.chunks
        # Parts of one article share its label: take enough candidates to fill k distinct articles.
        depth = min(len(scores), 4 * k + 20)
        candidates = np.argpartition(-scores, depth - 1)[:depth]
        hits: dict[tuple[str, str], Hit] = {}
        for i in candidates[np.argsort(-scores[candidates])]:
            chunk = chunks[int(i)]
            key = (chunk.doc, chunk.label)
            if key not in hits:
                positions = sorted(self.snapshot.by_article[key], key=lambda p: -scores[p])
                hits[key] = Hit(chunk=chunk, score=float(scores[i]), positions=positions)
                if len(hits) == k:
                    break
        return list(hits.values())

    def _scores(self, plan: QueryPlan, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Combined score of every chunk for a planned query, and the raw dense cosines."""
        w = self.weights
        # The encoder sees the question alone: glossary terms go to BM25 only (adding them to the encoder's
        # text made each query ~10 ms slower for no gain on the dev set). It runs in a worker thread (the C
        # engine releases the GIL) while BM25 is computed here.
        future = self._encoder.submit(self.embedder.embed_queries, [plan.text])
        known = [t for t in tokens if t in self.snapshot.bm25.vocab_dict]
        bm25 = self.snapshot.bm25.get_scores(known) if known else np.zeros(len(self.snapshot.chunks))
        bm25 = np.asarray(bm25, dtype=np.float32)
        if bm25.max() > 0:
            bm25 = bm25 / bm25.max()
        query_vector = future.result()[0]
        cosine = self._matrix @ query_vector
        spread = cosine.max() - cosine.min()
        dense = (cosine - cosine.min()) / spread if spread > 0 else np.zeros_like(cosine)
        scores = w.bm25 * bm25 + w.dense * dense - w.secondary * self._secondary

        for title in plan.docs:
            doc_id = self._doc_ids.get(title)
            if doc_id is not None:
                scores = scores + w.named_doc * (self._chunk_doc == doc_id)
        if plan.region == "local":
            scores = scores + w.region * self._local
        elif plan.region == "national":
            scores = scores + w.region * ~self._local
        for role in plan.roles:
            if role in self._obliges:
                scores = scores + w.role * self._obliges[role]
        if plan.definition:
            scores = scores + w.definition * self._defines
        if plan.penalty:
            scores = scores + w.penalty * self._penalty
            inherited = scores.copy()
            for i in np.argsort(-scores)[:30]:
                if not self._penalty[i]:
                    for j in self._links[i]:
                        inherited[j] = max(inherited[j], w.link * scores[i] + w.penalty)
            scores = inherited
        for title, label in plan.refs:
            for (doc, art), positions in self.snapshot.by_article.items():
                if art == label and (title is None or doc == title):
                    scores[positions] += w.reference
        return scores, cosine
