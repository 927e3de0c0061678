"""Reply rendering (HTML escaping, splitting) and dialogue rules that need no network."""

from __future__ import annotations

import logging
import re

from bot.config import load_settings
from bot.dialogue.core import FloodGate
from bot.dialogue.replies import TELEGRAM_LIMIT, Block, Reply


def test_html_escapes_document_and_user_text_and_marks_terms() -> None:
    quote = Block("施工单位<script>应当</script>对商品混凝土进行检验", "quote", ("商品混凝土", "混凝土", "检验"))
    reply = Reply([Block("依据：《A&B条例》第一条", "heading"), quote])
    html = reply.html_chunks()[0]
    assert "&lt;script&gt;" in html and "<script>" not in html and "A&amp;B" in html
    assert "<b>商品混凝土</b>" in html and "<b>检验</b>" in html and "<b><b>" not in html
    assert html.count("<b>") == html.count("</b>")


def test_long_reply_is_split_at_paragraphs_within_the_limit() -> None:
    paragraphs = [Block(f"第{n}段：" + "施工质量" * 120) for n in range(20)]
    chunks = Reply(paragraphs).html_chunks()
    assert len(chunks) > 1 and all(len(c) <= TELEGRAM_LIMIT for c in chunks)
    joined = "\n".join(chunks)
    assert all(f"第{n}段：" in joined for n in range(20))
    assert all(c.startswith("第") for c in chunks)  # every message starts at a paragraph
    huge = Reply([Block("质" * 10000, "quote")]).html_chunks()
    assert all(len(c) <= TELEGRAM_LIMIT for c in huge) and sum(len(c) for c in huge) >= 10000
    assert all(not re.search(r"<[^>]*$", c) for c in huge)


def test_flood_gate_warns_once_then_drops() -> None:
    gate = FloodGate(burst=3, window=60)
    assert [gate.check(7) for _ in range(6)] == ["ok", "ok", "ok", "warn", "drop", "drop"]
    assert gate.check(8) == "ok"


def test_token_is_never_logged(caplog, tmp_path) -> None:
    from bot.telegram_bot import build_application

    settings = load_settings({"TELEGRAM_BOT_TOKEN": "999:SECRET-TOKEN", "BOT_DB_PATH": str(tmp_path / "x.db")})
    assert "SECRET" not in repr(settings)
    with caplog.at_level(logging.DEBUG):
        build_application(object(), settings)  # type: ignore[arg-type]
        logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot999:SECRET-TOKEN/getMe")
    assert "SECRET" not in caplog.text


def test_every_chunk_is_html_telegram_can_parse() -> None:
    from tests.bot_api_limits import parse_html, utf16_len

    for lead in range(10):  # cuts land at every offset of the escaped text, never inside &amp; or a tag
        reply = Reply([Block("依据：《A&B条例》", "heading"),
                       Block("质" * lead + "甲方<乙方>&监理 " * 900, "quote", ("监理", "amp", "lt")),
                       Block("条文：" + "a&b " * 1500)])
        for chunk in reply.html_chunks():
            assert utf16_len(parse_html(chunk)) <= TELEGRAM_LIMIT
