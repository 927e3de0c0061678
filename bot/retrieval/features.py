"""First stage of ranking: candidate articles for a question, and the features the model scores them on.

Candidates come from four short lists — BM25 over articles, BM25 over phrasings, and the FAISS indexes of
article and phrasing vectors — plus the penalty (or duty) articles linked to the best of them and any article
the question names. Only candidates get features, so a query's cost hardly grows with the corpus.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from bot.retrieval.glossary import Glossary
from bot.retrieval.indexer import char_bigrams, index_terms
from bot.retrieval.phrasings import normalise
from bot.retrieval.query import QueryPlan
from bot.retrieval.roles import RoleMatcher
from bot.retrieval.store import IndexSnapshot
from bot.retrieval.tokenizer import Tokenizer

FEATURES = [
    "bm25_rel", "bm25_rr", "bm25p_rel", "bm25p_rr", "bigram_rel", "bigramp_rel",
    "cos", "cos_gap", "cos_rr", "cosp", "cosp_gap", "cosp_rr",
    "lcs", "lcs_share", "coverage",
    "penalty_asked", "penalty_not_asked", "link_penalty",
    "named_doc", "other_doc_named", "region_match", "region_mismatch", "local_no_region",
    "role", "definition", "training", "notice",
    "exam_x_cosp", "exam_x_bm25p", "exam_x_lcs", "short_x_cosp", "short_x_cos", "phrasing_extra",
    "core", "short_x_core",
]
QUESTION_FEATURES = [
    "top_score", "margin", "cos_max", "cosp_max", "bm25_max", "bm25p_max", "vocab_share", "lcs_top",
    "coverage_top", "unknown_law", "named_doc", "length", "exam",
]
_DEFINES = re.compile(r"所称|是指|系指|本(?:法|条例|规定|办法)所指")
_OPTIONS = re.compile(r"(?:^|[\s；;。，,）)])[A-DＡ-Ｄ][\.．、:：]")
_BLANK = re.compile(r"[（(]\s*[）)]")
_EXAM_WORDS = re.compile(r"下列|的是|说法正确|说法错误|不正确的|属于.{0,6}的有")
SHORT_CHARS = 12
CORE_DOCUMENTS = {"建设工程质量管理条例", "广东省建设工程质量管理条例", "建筑法"}


def _grams(text: str, n: int = 3) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def exam_style(text: str) -> bool:
    """A formal exam stem: options A–D, a blank to fill, or the stock phrases of exam questions."""
    return len(_OPTIONS.findall(text)) >= 2 or bool(_BLANK.search(text)) or bool(_EXAM_WORDS.search(text))


def common_run(query_grams: list[str], grams: set[str]) -> int:
    """Longest common phrase, approximately: the longest run of consecutive query 3-grams that all occur in
    the article, as characters (a run of k 3-grams covers k + 2 characters)."""
    best = run = 0
    for gram in query_grams:
        if gram in grams:
            run += 1
            if run > best:
                best = run
        else:
            run = 0
    return best + 2 if best else 0


@dataclass
class Candidates:
    """Candidate articles of one question with their feature rows."""

    articles: np.ndarray  # article ids
    features: np.ndarray  # (len(articles), len(FEATURES))
    question: np.ndarray  # raw question-level signals, completed by the model's scores
    vector: np.ndarray  # the question's embedding


class ArticleTable:
    """Article-level view of an index snapshot, with everything the features need precomputed."""

    def __init__(self, snapshot: IndexSnapshot, tokenizer: Tokenizer, glossary: Glossary) -> None:
        self.snapshot = snapshot
        self.tokenizer = tokenizer
        chunks = snapshot.chunks
        self.keys: list[tuple[str, str]] = list(snapshot.by_article)
        self.article_of = {key: a for a, key in enumerate(self.keys)}
        # Ties are broken by (document, label), so that results do not depend on the order files were indexed.
        self.key_rank = np.empty(len(self.keys), dtype=np.int64)
        self.key_rank[sorted(range(len(self.keys)), key=lambda a: self.keys[a])] = np.arange(len(self.keys))
        self.chunks_of = [np.array(snapshot.by_article[key]) for key in self.keys]
        self.chunk_article = np.zeros(len(chunks), dtype=np.int64)
        for a, positions in enumerate(self.chunks_of):
            self.chunk_article[positions] = a
        self.phrasings_of: list[list[int]] = [[] for _ in self.keys]
        self.phrasing_article = np.zeros(len(snapshot.phrasings), dtype=np.int64)
        for i, phrasing in enumerate(snapshot.phrasings):
            a = self.article_of.get((phrasing.doc, phrasing.label), -1)
            self.phrasing_article[i] = a
            if a >= 0:
                self.phrasings_of[a].append(i)
        texts = [snapshot.article_text(doc, label) for doc, label in self.keys]
        self.grams = [_grams(normalise(t)) for t in texts]
        first = [chunks[positions[0]] for positions in self.chunks_of]
        # Token sets were computed at index time (terms.json); an older version computes them here.
        terms = snapshot.terms or index_terms(snapshot.chunks, snapshot.phrasings, tokenizer)
        self.tokens = [set(terms["articles"].get(f"{doc}\n{label}", ())) for doc, label in self.keys]
        self.df: Counter[str] = Counter(t for tokens in self.tokens for t in tokens)  # articles holding a word
        self.penalty = np.array([any(chunks[p].penalty for p in ps) for ps in self.chunks_of], dtype=bool)
        self.defines = np.array([bool(_DEFINES.search(t)) for t in texts], dtype=bool)
        self.local = np.array([c.kind == "local_regulation" or c.doc.startswith("广东") for c in first], dtype=bool)
        self.training = np.array([c.kind == "training" for c in first], dtype=bool)
        self.notice = np.array([c.kind == "notice" for c in first], dtype=bool)
        # The construction-quality core: the national and Guangdong quality regulations and the Building Law.
        self.core = np.array([c.doc.removeprefix("中华人民共和国") in CORE_DOCUMENTS for c in first], dtype=bool)
        self.doc = [c.doc for c in first]
        titles = list(dict.fromkeys(self.doc))
        self.doc_id = np.array([titles.index(d) for d in self.doc], dtype=np.int64)
        self.doc_index = {t: i for i, t in enumerate(titles)}
        matcher = RoleMatcher(glossary.roles)
        self.obliges = [{r for o in matcher.obligations(t) for r in o.roles} for t in texts]
        self.links: list[list[int]] = []
        for positions in self.chunks_of:
            linked: list[int] = []
            for p in positions:
                for other in snapshot.links.get(chunks[p].id, []):
                    q = snapshot.position.get(other)
                    if q is not None and int(self.chunk_article[q]) not in linked:
                        linked.append(int(self.chunk_article[q]))
            self.links.append(linked)
        empty = np.zeros((0, snapshot.vectors.d), dtype=np.float32)
        self.matrix = snapshot.vectors.reconstruct_n(0, snapshot.vectors.ntotal) if snapshot.vectors.ntotal else empty
        pv = snapshot.phrasing_vectors
        self.phrasing_matrix = pv.reconstruct_n(0, pv.ntotal) if pv is not None and pv.ntotal else empty
        self.phrasing_tokens = [set(t) for t in terms["phrasings"]]
        # Phrasings with a vector (exam-style ones have none: BM25 finds them), per article.
        has_vector = np.abs(self.phrasing_matrix).sum(axis=1) > 0 if len(self.phrasing_matrix) else np.zeros(0, bool)
        self.dense_of = [[i for i in rows if has_vector[i]] for rows in self.phrasings_of]


class FeatureBuilder:
    """Turns (question plan, tokens, question vector) into :class:`Candidates`."""

    def __init__(self, table: ArticleTable, depth: int = 40, phrasing_offset: float = 0.05) -> None:
        self.table = table
        self.depth = depth
        self.phrasing_offset = phrasing_offset
        snapshot = table.snapshot
        self.bm25 = snapshot.bm25
        self.phrasing_bm25 = snapshot.lexical.get("phrasings")
        self.bigram_bm25 = snapshot.lexical.get("bigrams")
        self.phrasing_bigram_bm25 = snapshot.lexical.get("phrasing_bigrams")
        self.vectors = snapshot.vectors
        self.phrasing_vectors = snapshot.phrasing_vectors

    def _bm25(self, index, tokens: list[str], size: int) -> np.ndarray:
        if index is None or size == 0:
            return np.zeros(size, dtype=np.float32)
        known = [t for t in tokens if t in index.vocab_dict]
        return np.asarray(index.get_scores(known), dtype=np.float32) if known else np.zeros(size, np.float32)

    def _top_articles(self, scores: np.ndarray, owner: np.ndarray) -> list[int]:
        """Articles of the ``depth`` best items, best first, each once."""
        if not len(scores):
            return []
        depth = min(self.depth, len(scores))
        # Everything tied with the depth-th score, then (score, document, label) order: the same list whatever
        # the order in which files were indexed.
        floor = np.partition(scores, len(scores) - depth)[len(scores) - depth]
        top = np.flatnonzero(scores >= floor)
        top = top[np.lexsort((self.table.key_rank[owner[top]], -scores[top]))][:depth]
        return list(dict.fromkeys(int(owner[i]) for i in top if scores[i] > 0 and owner[i] >= 0))

    def _search(self, index, vector: np.ndarray, owner: np.ndarray) -> list[int]:
        if index is None or index.ntotal == 0:
            return []
        _, found = index.search(vector[None, :].astype(np.float32), min(self.depth, index.ntotal))
        return list(dict.fromkeys(int(owner[i]) for i in found[0] if i >= 0 and owner[i] >= 0))

    def build(self, plan: QueryPlan, tokens: list[str], vector: np.ndarray,
              forced: list[int] = ()) -> Candidates:
        """The candidates of a question and their features (``forced``: articles it names by number)."""
        table = self.table
        n_articles = len(table.keys)
        n_chunks, n_phrasings = len(table.chunk_article), len(table.phrasing_article)
        bm25 = self._bm25(self.bm25, tokens, n_chunks)
        bm25p = self._bm25(self.phrasing_bm25, tokens, n_phrasings)
        bigrams = char_bigrams(plan.expanded_text)
        big = self._bm25(self.bigram_bm25, bigrams, n_chunks)
        bigp = self._bm25(self.phrasing_bigram_bm25, bigrams, n_phrasings)
        lists = [
            self._top_articles(bm25, table.chunk_article),
            self._top_articles(bm25p, table.phrasing_article),
            self._search(self.vectors, vector, table.chunk_article),
            self._search(self.phrasing_vectors, vector, table.phrasing_article),
        ]
        rr = np.zeros((4, n_articles), dtype=np.float32)  # reciprocal rank of each article in each list
        for row, items in enumerate(lists):
            rr[row, items] = 1.0 / np.arange(1, len(items) + 1)
        quick = rr.max(axis=0)
        found = np.flatnonzero(quick > 0)
        ranked = [int(a) for a in found[np.lexsort((table.key_rank[found], -quick[found]))]]
        pool = list(dict.fromkeys([*forced, *ranked]))
        for a in ranked[:10]:
            pool.extend(j for j in table.links[a])
        arts = np.array(list(dict.fromkeys(pool)), dtype=np.int64)

        # BM25 fields: best chunk (phrasing) of each candidate, relative to the best overall.
        bm = self._relative(bm25, table.chunk_article, n_articles, arts)
        bmp = self._relative(bm25p, table.phrasing_article, n_articles, arts)
        bg = self._relative(big, table.chunk_article, n_articles, arts)
        bgp = self._relative(bigp, table.phrasing_article, n_articles, arts)
        # Dense: one product over the candidates' chunks and phrasings.
        cos = self._segment_max(table.matrix, table.chunks_of, arts, vector)
        has_phr = np.array([bool(table.dense_of[a]) for a in arts], dtype=bool)
        cosp = np.zeros(len(arts), dtype=np.float32)
        extra = np.zeros(len(arts), dtype=np.float32)
        if has_phr.any():
            cosp[has_phr], best = self._segment_best(table.phrasing_matrix, table.dense_of, arts[has_phr], vector)
            # A phrasing about a narrower matter than the question (保温工程保修期 for 保修期多久) carries rare
            # words the question lacks: the weighted share of those words.
            asked = set(tokens)
            extra[has_phr] = [self._unmatched(table.phrasing_tokens[i], asked) for i in best]
        # An article without phrasings (an uploaded document, a training note) stands in for its own phrasings:
        # its article signals fill the phrasing fields, the cosine shifted by the typical gap between
        # question–question and question–article similarity, so that it is ranked on equal terms.
        absent = ~has_phr
        cosp[absent] = cos[absent] + self.phrasing_offset
        bmp[absent], bgp[absent] = bm[absent], bg[absent]
        rr[1, arts[absent]], rr[3, arts[absent]] = rr[0, arts[absent]], rr[2, arts[absent]]
        cos_max = float(cos.max()) if len(cos) else 0.0
        cosp_max = float(cosp.max()) if len(cosp) else 0.0

        query = normalise(plan.text)
        query_grams = [query[i:i + 3] for i in range(len(query) - 2)]
        wanted = set(tokens)
        lcs = np.array([min(common_run(query_grams, table.grams[a]), len(query)) for a in arts], np.float32)
        coverage = np.array([len(wanted & table.tokens[a]) / len(wanted) if wanted else 0.0 for a in arts],
                            dtype=np.float32)
        exam = float(exam_style(plan.text))
        short = float(len(query) <= SHORT_CHARS)
        penalty = table.penalty[arts]
        local = table.local[arts]
        named = np.isin(table.doc_id[arts], [table.doc_index[d] for d in plan.docs if d in table.doc_index])
        region_match = (local if plan.region == "local" else ~local if plan.region == "national"
                        else np.zeros(len(arts), dtype=bool))
        link = np.zeros(len(arts), dtype=np.float32)
        if plan.penalty:
            for i, a in enumerate(arts):
                if penalty[i] and table.links[a]:
                    link[i] = quick[table.links[a]].max()
        roles = set(plan.roles)
        columns = {
            "bm25_rel": bm, "bm25_rr": rr[0, arts], "bm25p_rel": bmp, "bm25p_rr": rr[1, arts],
            "bigram_rel": bg, "bigramp_rel": bgp,
            "cos": cos, "cos_gap": cos - cos_max, "cos_rr": rr[2, arts],
            "cosp": cosp, "cosp_gap": cosp - cosp_max, "cosp_rr": rr[3, arts],
            "lcs": np.minimum(lcs, 20) / 20, "lcs_share": lcs / len(query) if query else lcs * 0,
            "coverage": coverage,
            "penalty_asked": penalty & plan.penalty, "penalty_not_asked": penalty & (not plan.penalty),
            "link_penalty": link,
            "named_doc": named, "other_doc_named": ~named & bool(plan.docs),
            "region_match": region_match, "region_mismatch": ~region_match & (plan.region is not None),
            "local_no_region": local & (plan.region is None),
            "role": np.array([bool(roles & table.obliges[a]) for a in arts]) if roles else np.zeros(len(arts)),
            "definition": table.defines[arts] & plan.definition,
            "training": table.training[arts], "notice": table.notice[arts],
            "exam_x_cosp": exam * cosp, "exam_x_bm25p": exam * bmp, "exam_x_lcs": exam * np.minimum(lcs, 20) / 20,
            "short_x_cosp": short * cosp, "short_x_cos": short * cos, "phrasing_extra": extra,
            "core": table.core[arts], "short_x_core": short * table.core[arts],
        }
        features = np.column_stack([np.asarray(columns[name], dtype=np.float32) for name in FEATURES])
        vocab = self.bm25.vocab_dict if len(table.chunk_article) else {}
        own = table.tokenizer.tokens(plan.text)
        bm25_top = float(bm25.max()) if len(bm25) else 0.0
        bm25p_top = float(bm25p.max()) if len(bm25p) else 0.0
        if absent.any():  # the article field stands in for the phrasings an article lacks, here too
            bm25p_top = max(bm25p_top, float(bm[absent].max()) * bm25_top)
        question = np.array([
            0.0, 0.0, cos_max, cosp_max, np.log1p(bm25_top), np.log1p(bm25p_top),
            sum(t in vocab for t in own) / len(own) if own else 0.0, 0.0, 0.0,
            float(bool(plan.unknown_laws)), float(bool(plan.docs)), np.log1p(len(query)), exam,
        ], dtype=np.float32)
        return Candidates(arts, features, question, vector)

    @staticmethod
    def _relative(scores: np.ndarray, owner: np.ndarray, n_articles: int, arts: np.ndarray) -> np.ndarray:
        """Each candidate's best score (over its chunks or phrasings) divided by the best score overall."""
        if not len(scores) or scores.max() <= 0:
            return np.zeros(len(arts), dtype=np.float32)
        best = np.zeros(n_articles, dtype=np.float32)
        np.maximum.at(best, owner, scores)
        return best[arts] / scores.max()

    def _unmatched(self, words: set[str], asked: set[str]) -> float:
        """IDF-weighted share of a phrasing's rare words that the question does not have."""
        df, n = self.table.df, max(len(self.table.keys), 1)
        weights = {w: np.log(n / (1 + df.get(w, 0))) for w in words if df.get(w, 0) <= 0.04 * n}
        total = sum(weights.values())
        return sum(v for w, v in weights.items() if w not in asked) / total if total > 0 else 0.0

    @staticmethod
    def _segment_best(matrix: np.ndarray, groups: list, arts: np.ndarray,
                      vector: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Best cosine over each candidate's rows of ``matrix``, and which row it was."""
        parts = [groups[a] for a in arts]
        rows = np.concatenate(parts)
        sims = matrix[rows] @ vector
        best_values, best_rows, offset = [], [], 0
        for part in parts:
            j = int(np.argmax(sims[offset:offset + len(part)]))
            best_values.append(sims[offset + j])
            best_rows.append(int(rows[offset + j]))
            offset += len(part)
        return np.array(best_values, dtype=np.float32), best_rows

    @staticmethod
    def _segment_max(matrix: np.ndarray, groups: list, arts: np.ndarray,
                     vector: np.ndarray) -> np.ndarray:
        """Best cosine over each candidate's rows of ``matrix``."""
        if not len(arts):
            return np.zeros(0, dtype=np.float32)
        parts = [groups[a] for a in arts]
        sims = matrix[np.concatenate(parts)] @ vector
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        return np.maximum.reduceat(sims, offsets).astype(np.float32)
