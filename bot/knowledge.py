"""The knowledge base a front end talks to: index lifecycle and a hot-swappable retriever."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from bot.answers import Answer, Composer
from bot.answers.duties import DutyList, extract_duties
from bot.answers.followup import Turn, read_follow_up
from bot.answers.llm import LLMPhraser
from bot.config import Settings
from bot.llm_client import ChatClient
from bot.retrieval.embedders import Embedder, make_embedder
from bot.retrieval.glossary import Glossary
from bot.retrieval.indexer import BuildReport, Progress, build_index
from bot.retrieval.phrasing_writer import LLMPhrasingWriter
from bot.retrieval.ranker import load_model_data
from bot.retrieval.search import Retriever, SearchResult
from bot.retrieval.store import IndexMissing, current_version, load_snapshot

log = logging.getLogger(__name__)


class KnowledgeBase:
    """Owns the embedder, the glossary and the retriever of the index version being served.

    ``retriever`` follows the index directory's CURRENT pointer, so a re-index by another process
    (or another thread) is picked up on the next question without a restart.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self.glossary = Glossary.load(settings.glossary_path)
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()
        self._duties: dict[tuple[str, str], DutyList] = {}
        self._llm: LLMPhraser | None = None
        self._writer: LLMPhrasingWriter | None = None
        if settings.llm_base_url and settings.llm_model:
            self._llm = LLMPhraser(settings.llm_base_url, settings.llm_model, settings.llm_api_key,
                                   settings.llm_timeout)
            self._writer = LLMPhrasingWriter(ChatClient(settings.llm_base_url, settings.llm_model,
                                                        settings.llm_api_key, settings.llm_timeout))

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embedder)
        return self._embedder

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    def has_index(self) -> bool:
        return current_version(self.index_dir) is not None

    def retriever(self) -> Retriever:
        """The retriever of the current index version (loaded, or reloaded after a switch)."""
        version = current_version(self.index_dir)
        current = self._retriever
        if current is not None and current.snapshot.version == version:
            return current
        if current is not None and not self._lock.acquire(blocking=False):
            return current  # another thread is loading the new version: keep answering from this one meanwhile
        if current is None:
            self._lock.acquire()
        try:
            version = current_version(self.index_dir)
            if self._retriever is None or self._retriever.snapshot.version != version:
                try:  # verified; a damaged version falls back to the newest good one
                    snapshot = load_snapshot(self.index_dir)
                except IndexMissing:
                    if self._retriever is None:
                        raise
                    log.error("no intact index version on disk; still serving %s", self._retriever.snapshot.version)
                    return self._retriever
                self._retriever = Retriever(snapshot, self.embedder, self.glossary)
                log.info("serving index %s (%d chunks)", snapshot.version, len(snapshot.chunks))
            return self._retriever
        finally:
            self._lock.release()

    def answer(self, question: str, full: bool = False, context: Turn | None = None,
               phrase: bool = True) -> Answer:
        """Retrieve and compose the reply to one question (phrased by the LLM when one is configured, unless
        ``phrase`` is False: see :meth:`summary`).

        ``context``: the conversation's previous question and articles; an elliptical follow-up (不通知会怎么罚？
        那广东呢？ 是第几条？) is read together with it. The answer's ``turn`` is the context for the next one.
        """
        retriever = self.retriever()
        kind: str | None = None
        result = None
        if context is not None and not context.expired():
            kind, result = read_follow_up(retriever, question, context)
            kind = kind or None  # "": the question stands on its own (result: its own retrieval, if made)
        composer = Composer(retriever)
        if result is None:
            result = retriever.retrieve(question, k=10)
        focus = question if kind is None else f"{context.question} {question}"
        answer = composer.compose(question, result, full=full or kind == "article", focus=focus)
        if kind is not None and answer.answered:
            answer.context = f"接上一问：{context.topic}"
            answer.text = f"（{answer.context}）\n{answer.text}"
        if answer.answered:
            asked = question if kind is None else f"{context.question} {question}"
            answer.turn = Turn(asked, [(s.doc, s.label) for s in answer.sections], answer.sections[0].quote)
        if self._llm is None or full or not phrase or not answer.answered or kind == "article":
            return answer
        return self._llm.phrase(answer, retriever.names, _llm_articles(answer))

    @property
    def phrasing(self) -> bool:
        """An LLM is configured and not cooling down after a failure."""
        return self._llm is not None and self._llm.available

    def summary(self, answer: Answer) -> str | None:
        """The LLM's checked reply to an extractive answer's question (None without one, or when it fails)."""
        if self._llm is None or not answer.answered:
            return None
        return self._llm.summarise(answer, self.retriever().names, _llm_articles(answer))

    def article(self, doc: str, label: str) -> Answer | None:
        """One article in full, as an answer (the 📖 原文 button); None when it is no longer indexed."""
        retriever = self.retriever()
        hit = retriever.hit(doc, label)
        if hit is None:
            return None
        result = SearchResult(retriever.plan(label), [hit], 1.0, referenced=True)
        return Composer(retriever).compose(f"{doc}{label}", result, full=True)

    def duties(self, role_text: str) -> DutyList | None:
        """Obligations on a role (甲方, 监理, 施工单位 …); None when the role is not known."""
        role = self.glossary.resolve_role(role_text)
        if role is None:
            return None
        retriever = self.retriever()
        key = (retriever.snapshot.version, role)
        if key not in self._duties:
            self._duties = {k: v for k, v in self._duties.items() if k[0] == key[0]}
            self._duties[key] = extract_duties(retriever, role)
        return self._duties[key]

    def ensure_index(self, progress: Progress = lambda message: None) -> BuildReport | None:
        """Build the index when none exists yet, when no intact version is left, or when the knowledge it is
        built from (the configured folders and the upload folder) changed since it was built (the reference
        corpus put beside the checkout, say); otherwise start on the index as it is."""
        if self.has_index():
            try:
                built_from = {str(p) for p in self.retriever().snapshot.manifest.get("sources", [])}
                if built_from == {str(p) for p in self.sources()}:
                    return None
                log.info("knowledge folders changed; re-indexing")
            except (IndexMissing, ValueError) as exc:
                log.warning("index unusable (%s); rebuilding", exc)
                progress("索引损坏或不完整，正在重建")
        return self.reindex(None, progress)

    def sources(self, paths: list[Path] | None = None) -> list[Path]:
        """What an index is built from: ``paths`` (default: the knowledge directories) and the upload folder.

        Admins' uploads belong to the knowledge wherever an index is built (CLI, start-up, /reindex);
        a file removed from the upload folder leaves the index at the next build.
        """
        return knowledge_sources(self.settings, paths)

    def refresh(self) -> None:
        """Load the version another process built (and the glossary it was built with); questions asked
        meanwhile are answered from the version loaded before."""
        glossary = Glossary.load(self.settings.glossary_path)
        with self._lock:
            snapshot = load_snapshot(self.index_dir)
            self.glossary = glossary
            self._retriever = Retriever(snapshot, self.embedder, glossary)
            self._duties = {}
        log.info("serving index %s (%d chunks)", snapshot.version, len(snapshot.chunks))

    def holdings(self) -> str:
        """One paragraph on what the knowledge holds, for the start of a chat."""
        docs = self.retriever().snapshot.documents
        official = [d for d in docs if d.get("kind") != "training"]
        training = len(docs) - len(official)
        text = f"已收录 {len(official)} 份法规和文件" + (f"、{training} 份培训资料" if training else "") + "。"
        if len(official) < 3:
            text += ("目前只有项目自带的资料；要回答法规问题，请把法规文件（.md/.txt/.docx/.pdf）放进 knowledge/ "
                     "或用 BOT_KNOWLEDGE_DIRS 指定目录（如 knowledge:../shared/corpus），再运行 python -m bot index。")
        else:
            names = "、".join(f"《{d['title']}》" for d in official[:6])
            text += f"如：{names}" + ("等。" if len(official) > 6 else "。")
        return text

    def reindex(self, paths: list[Path] | None = None, progress: Progress = lambda m: None) -> BuildReport:
        """Index :meth:`sources` into a new version and serve it."""
        self.glossary = Glossary.load(self.settings.glossary_path)
        model = load_model_data(self.settings.models_dir, self.embedder.id)
        report = build_index(self.sources(paths), self.index_dir, self.embedder, self.glossary, progress,
                             phrasings_dir=self.settings.phrasings_dir, ranker=model, writer=self._writer)
        self._retriever = None
        self.retriever()
        return report


def knowledge_sources(settings: Settings, paths: list[Path] | None = None) -> list[Path]:
    """``paths`` (default: the knowledge directories) and the upload folder, when it exists."""
    targets = list(paths) if paths else list(settings.knowledge_dirs)
    uploads = settings.upload_dir
    if uploads.is_dir() and not any(_inside(uploads, p) for p in targets):
        targets.append(uploads)
    return targets


def _llm_articles(answer: Answer) -> dict[tuple[str, str], str]:
    """What the LLM may use: the five best articles, whole."""
    return {(c["doc"], c["loc"]): c["text"] for c in answer.citations[:5]}


def _inside(child: Path, parent: Path) -> bool:
    return child.resolve().is_relative_to(parent.resolve())
