"""The optional LLM, against a stand-in chat-completions server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bot.knowledge import KnowledgeBase
from tests.fake_llm import FakeLLM

QUESTION = "商砼进场以后总包还用自己再检验一遍吗？"


@pytest.fixture
def llm_server() -> Iterator[tuple[FakeLLM, str]]:
    server = FakeLLM().start()
    yield server, server.url
    server.stop()


def _kb(corpus_settings, embedder, url: str) -> KnowledgeBase:
    settings = replace(corpus_settings, llm_base_url=url, llm_model="qwen-test", llm_api_key="sk-test",
                       llm_timeout=1.0)
    return KnowledgeBase(settings, embedder)


def test_llm_answer_with_valid_citations_is_used(corpus_settings, embedder, llm_server) -> None:
    state, url = llm_server
    state.reply = "需要检验。依据《建设工程质量管理条例》第二十九条，检验应当有书面记录和专人签字。"
    answer = _kb(corpus_settings, embedder, url).answer(QUESTION)
    assert answer.mode == "llm" and answer.text.startswith("需要检验")
    assert "引用已核对" in answer.text and "《建设工程质量管理条例》第二十九条" in answer.text
    request = state.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "qwen-test"
    assert "第二十九条" in request["body"]["messages"][1]["content"]


def test_invented_article_falls_back_to_extractive(corpus_settings, embedder, llm_server) -> None:
    state, url = llm_server
    state.reply = "依据《建设工程质量管理条例》第九百条，不用检验。"
    answer = _kb(corpus_settings, embedder, url).answer(QUESTION)
    assert answer.mode == "extractive" and "第九百条" not in answer.text
    assert answer.text == KnowledgeBase(corpus_settings, embedder).answer(QUESTION).text


def test_reply_without_citation_falls_back(corpus_settings, embedder, llm_server) -> None:
    state, url = llm_server
    state.reply = "当然要检验。"
    assert _kb(corpus_settings, embedder, url).answer(QUESTION).mode == "extractive"


def test_hanging_server_falls_back_after_the_timeout(corpus_settings, embedder, llm_server) -> None:
    state, url = llm_server
    state.hang = 10.0  # far longer than the 1-second timeout: the answer must not wait for it
    state.reply = "依据《建设工程质量管理条例》第二十九条。"
    kb = _kb(corpus_settings, embedder, url)
    kb.retriever()  # loaded before the clock starts
    started = time.perf_counter()
    answer = kb.answer(QUESTION)
    assert answer.mode == "extractive"
    assert time.perf_counter() - started < 8  # the 1 s timeout, not the 10 s hang

    # A stalled model costs one wait: the next questions do not call it until it has cooled down.
    assert not kb.phrasing
    assert kb.answer(QUESTION).mode == "extractive" and len(state.requests) == 1


def test_unreachable_server_falls_back(corpus_settings, embedder) -> None:
    answer = _kb(corpus_settings, embedder, "http://127.0.0.1:9/v1").answer(QUESTION)
    assert answer.mode == "extractive" and answer.answered
