"""The optional LLM, against a stand-in chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.knowledge import KnowledgeBase

QUESTION = "商砼进场以后总包还用自己再检验一遍吗？"


class StandIn:
    """Replies with ``reply`` (or hangs) and records the requests."""

    def __init__(self) -> None:
        self.reply = ""
        self.hang = 0.0
        self.requests: list[dict] = []


@pytest.fixture
def llm_server() -> Iterator[tuple[StandIn, str]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            if state.hang:
                time.sleep(state.hang)
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": state.reply}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


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
    started = time.perf_counter()
    answer = _kb(corpus_settings, embedder, url).answer(QUESTION)
    assert answer.mode == "extractive"
    assert time.perf_counter() - started < 8


def test_unreachable_server_falls_back(corpus_settings, embedder) -> None:
    answer = _kb(corpus_settings, embedder, "http://127.0.0.1:9/v1").answer(QUESTION)
    assert answer.mode == "extractive" and answer.answered
