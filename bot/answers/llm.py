"""Optional phrasing by an OpenAI-compatible chat-completions endpoint, confined to the retrieved articles.

The model sees only the retrieved articles. Every article its reply cites must be one of them, and it must
cite at least one; otherwise — and on any timeout or error — the extractive answer stands. After a timeout or
a connection error the endpoint is left alone for ``cooldown`` seconds: a stalled model costs one wait, not
one per question.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace

import httpx

from bot.answers.compose import Answer, render_plain
from bot.llm_client import ChatClient, LLMError
from bot.numerals import NUM_PATTERN, article_label, to_int
from bot.retrieval.query import DocumentNames

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "你是建设工程质量法规助手。只能依据用户消息中给出的条文回答，不得使用条文以外的知识，不得编造条文。"
    "用简体中文简洁作答，先给结论，再说明依据；每个依据都用《文件名》第X条的形式注明出处，只能引用给出的条文。"
    "如果给出的条文不能回答问题，就直接说明无法根据现有条文回答。"
)
_CITE = re.compile(rf"《([^《》]+)》\s*(第({NUM_PATTERN})条(之[一二三四五六七八九十]+)?)")
MAX_LLM_CHARS = 900


class LLMPhraser:
    """Calls ``{base_url}/chat/completions`` and checks what comes back."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 20.0,
                 transport: httpx.BaseTransport | None = None, cooldown: float = 60.0) -> None:
        self.client = ChatClient(base_url, model, api_key, timeout, transport)
        self.cooldown = cooldown
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """False while the endpoint is cooling down after a timeout or a connection error."""
        return time.monotonic() >= self._down_until

    def phrase(self, answer: Answer, names: DocumentNames, articles: dict[tuple[str, str], str]) -> Answer:
        """Return ``answer`` re-phrased by the model, or unchanged when the model's reply cannot be trusted."""
        reply = self.summarise(answer, names, articles)
        if reply is None:
            return answer
        quotes = render_plain(answer.sections[:2])
        text = f"{reply}\n\n（以上由语言模型根据检索到的条文组织，引用已核对。原文如下）\n{quotes}"
        return replace(answer, text=text, mode="llm")

    def summarise(self, answer: Answer, names: DocumentNames, articles: dict[tuple[str, str], str]) -> str | None:
        """The model's reply to the question, checked: None when it is unavailable, fails or cites outside
        ``articles``."""
        if not answer.answered or not self.available:
            return None
        allowed = {key for key in articles}
        context = "\n\n".join(f"[{n}]《{doc}》{label}：{text}" for n, ((doc, label), text)
                              in enumerate(articles.items(), start=1))
        try:
            reply = self.client.complete(SYSTEM_PROMPT, f"条文：\n{context}\n\n问题：{answer.question}")
        except LLMError as exc:
            if isinstance(exc.__cause__, httpx.TimeoutException | httpx.TransportError):
                with self._lock:
                    self._down_until = time.monotonic() + self.cooldown
                log.warning("LLM unavailable (%s); extractive answers for the next %.0f s", exc, self.cooldown)
            else:
                log.warning("LLM unavailable (%s); using the extractive answer", exc)
            return None
        cited = cited_articles(reply, names)
        if not reply or not cited or not cited <= allowed:
            log.warning("LLM reply cites %s, outside the retrieved articles; using the extractive answer",
                        sorted(cited - allowed) or "nothing")
            return None
        if len(reply) > MAX_LLM_CHARS:
            reply = reply[: MAX_LLM_CHARS - 1] + "…"
        return reply


def cited_articles(text: str, names: DocumentNames) -> set[tuple[str, str]]:
    """(title, 第X条) pairs a reply cites; an unknown document counts as its own (invalid) title."""
    out = set()
    for match in _CITE.finditer(text):
        number = to_int(match.group(3))
        title = names.resolve(match.group(1)) or match.group(1)
        label = article_label(number, match.group(4) or "") if number else match.group(2)
        out.add((title, label))
    return out
