"""Retrieval in two stages: candidate articles with their features, then the fitted model ranks them.

Explicit references (第X条, 《建筑法》第五十四条) stay deterministic: the named article comes first. The same
model gives the probability that the knowledge answers the question at all (the abstention decision).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from bot.ingest.models import Chunk
from bot.retrieval.embedders import Embedder
from bot.retrieval.features import FEATURES, QUESTION_FEATURES, ArticleTable, Candidates, FeatureBuilder
from bot.retrieval.glossary import Glossary
from bot.retrieval.indexer import make_tokenizer
from bot.retrieval.phrasings import Phrasing
from bot.retrieval.query import DocumentNames, QueryPlan, analyse
from bot.retrieval.ranker import RankingModel, from_snapshot
from bot.retrieval.store import IndexSnapshot

_LCS, _COVERAGE = FEATURES.index("lcs"), FEATURES.index("coverage")
# A phrasing counts as matched (its answering sentence leads the reply) from this cosine up.
PHRASING_MATCH = 0.92


@dataclass
class Hit:
    """One article (parts merged) with its score."""

    chunk: Chunk
    score: float
    positions: list[int] = field(default_factory=list)
    phrasing: Phrasing | None = None  # the phrasing of this article closest to the question
    phrasing_cosine: float = 0.0

    @property
    def doc(self) -> str:
        return self.chunk.doc

    @property
    def label(self) -> str:
        return self.chunk.label

    @property
    def matched_phrasing(self) -> Phrasing | None:
        """The phrasing when it is close enough to the question to say the same thing."""
        return self.phrasing if self.phrasing_cosine >= PHRASING_MATCH else None


@dataclass
class SearchResult:
    """Ranked articles and how likely it is that they answer the question."""

    plan: QueryPlan
    hits: list[Hit]
    confidence: float = 0.0  # calibrated probability that the knowledge answers the question
    referenced: bool = False  # the question named an article that was found

    def answered(self, threshold: float) -> bool:
        """Whether to present the best article as the answer."""
        if not self.hits:
            return False
        if self.referenced:
            return True
        if self.plan.unknown_laws and not self.plan.docs:
            return False
        return self.confidence >= threshold


class Retriever:
    """Answers ``search(question)`` from one index snapshot."""

    def __init__(self, snapshot: IndexSnapshot, embedder: Embedder, glossary: Glossary) -> None:
        if snapshot.manifest["embedder"]["id"] != embedder.id:
            raise ValueError(
                f"index was built with {snapshot.manifest['embedder']['id']}, not {embedder.id}; re-index"
            )
        self.snapshot = snapshot
        self.embedder = embedder
        self.glossary = glossary
        titles = [d["title"] for d in snapshot.documents]
        self.names = DocumentNames(titles, glossary)
        self.tokenizer = make_tokenizer(glossary, titles)
        self.model: RankingModel = from_snapshot(snapshot.ranker)
        self.table = ArticleTable(snapshot, self.tokenizer, glossary)
        self.features = FeatureBuilder(self.table, phrasing_offset=self.model.phrasing_offset)
        # Several questions may wait for the encoder at once (it serves them one by one, before index work).
        self._encoder = ThreadPoolExecutor(max_workers=4, thread_name_prefix="encoder")

    def plan(self, question: str) -> QueryPlan:
        return analyse(question, self.names, self.glossary)

    def search(self, question: str, k: int = 10) -> list[Hit]:
        """The ``k`` best articles for ``question``, best first."""
        return self.retrieve(question, k).hits

    def candidates(self, question: str) -> tuple[QueryPlan, Candidates, list[int]]:
        """The plan, the candidate articles with features, and the articles the question names by number."""
        plan = self.plan(question)
        # The encoder sees the question alone (glossary terms go to BM25). It runs in a worker thread (the C
        # engine releases the GIL) while the question is tokenised and BM25 is computed here.
        future = self._encoder.submit(self.embedder.embed_queries, [plan.text])
        tokens = self.tokenizer.tokens(plan.expanded_text)
        referenced = self._referenced(plan)
        vector = future.result()[0]
        return plan, self.features.build(plan, tokens, vector, referenced), referenced

    def retrieve(self, question: str, k: int = 10) -> SearchResult:
        """Ranked articles with the probability that they answer the question."""
        if not self.snapshot.chunks:
            return SearchResult(self.plan(question), [])
        plan, candidates, referenced = self.candidates(question)
        scores = self.model.rank_scores(candidates.features)
        order = list(np.argsort(-scores, kind="stable"))
        if referenced:
            named = set(referenced)
            order = [i for i in order if candidates.articles[i] in named] + \
                    [i for i in order if candidates.articles[i] not in named]
        signals = question_signals(candidates, scores, order)
        confidence = self.model.answer_probability(signals)
        hits = [self._hit(candidates, i, float(scores[i])) for i in order[:k]]
        return SearchResult(plan, hits, confidence, referenced=bool(referenced))

    def _referenced(self, plan: QueryPlan) -> list[int]:
        """Articles an explicit reference names (of every document when none is named)."""
        out = []
        for title, label in plan.refs:
            for a, (doc, art) in enumerate(self.table.keys):
                if art == label and (title is None or doc == title):
                    out.append(a)
        return out

    def _hit(self, candidates: Candidates, i: int, score: float) -> Hit:
        a = int(candidates.articles[i])
        positions = [int(p) for p in self.table.chunks_of[a]]
        hit = Hit(self.snapshot.chunks[positions[0]], score, positions)
        rows = self.table.phrasings_of[a]
        if rows:
            sims = self.table.phrasing_matrix[rows] @ candidates.vector
            best = int(np.argmax(sims))
            hit.phrasing, hit.phrasing_cosine = self.snapshot.phrasings[rows[best]], float(sims[best])
        return hit

    def hit(self, doc: str, label: str) -> Hit | None:
        """An article as a hit (score 0), or None when it is not indexed."""
        a = self.table.article_of.get((doc, label))
        if a is None:
            return None
        positions = [int(p) for p in self.table.chunks_of[a]]
        return Hit(self.snapshot.chunks[positions[0]], 0.0, positions)

    def key_of(self, position: int) -> tuple[str, str]:
        """(document, label) of the article a chunk belongs to."""
        chunk = self.snapshot.chunks[position]
        return chunk.doc, chunk.label

    def linked_positions(self, positions: list[int]) -> list[int]:
        """Chunks linked (duty <-> penalty) to any of ``positions``, in link order."""
        chunks = self.snapshot.chunks
        out: list[int] = []
        for p in positions:
            for other in self.snapshot.links.get(chunks[p].id, []):
                j = self.snapshot.position.get(other)
                if j is not None and j not in out:
                    out.append(j)
        return out


def question_signals(candidates: Candidates, scores: np.ndarray, order: list[int]) -> np.ndarray:
    """The question-level feature row (QUESTION_FEATURES) once the candidates are scored."""
    signals = candidates.question.copy()
    if order:
        top = order[0]
        signals[QUESTION_FEATURES.index("top_score")] = scores[top]
        second = scores[order[1]] if len(order) > 1 else scores[top] - 5.0
        signals[QUESTION_FEATURES.index("margin")] = scores[top] - second
        signals[QUESTION_FEATURES.index("lcs_top")] = candidates.features[top, _LCS]
        signals[QUESTION_FEATURES.index("coverage_top")] = candidates.features[top, _COVERAGE]
    return signals
