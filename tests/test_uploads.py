"""One knowledge set: an admin's upload stays in the index however it is rebuilt, until it is removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.dialogue import Dialogue, Incoming
from bot.knowledge import KnowledgeBase
from bot.retrieval.store import load_snapshot
from bot.storage import Store
from tests.conftest import KNOWLEDGE, ROOT, make_settings

ADMIN = Incoming(user_id=1, name="管理员", chat_id=1)
LAW = ("# 示范塔吊管理规定\n\n<!-- INFO END -->\n\n第一条 为了规范塔吊管理，制定本规定。\n\n"
       "第二条 塔式起重机的司索信号工应当持证上岗，每班作业前进行绿色旗语交接。\n")
TITLE = "示范塔吊管理规定"


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(tmp_path, BOT_ADMIN_IDS="1", BOT_KNOWLEDGE_DIRS=str(KNOWLEDGE / "training"))


def _titles(settings) -> set[str]:
    return {d["title"] for d in load_snapshot(settings.index_dir).documents}


def _cli(args: list[str], settings) -> subprocess.CompletedProcess:
    env = dict(os.environ, BOT_INDEX_DIR=str(settings.index_dir), BOT_DB_PATH=str(settings.db_path),
               BOT_KNOWLEDGE_DIRS=":".join(str(p) for p in settings.knowledge_dirs),
               BOT_GLOSSARY=str(settings.glossary_path), BOT_UPLOAD_DIR=str(settings.upload_dir))
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def test_upload_survives_every_reindex_path_until_removed(settings, embedder) -> None:
    kb = KnowledgeBase(settings, embedder)
    kb.ensure_index()
    dialogue = Dialogue(kb, Store(settings.db_path))
    reply = dialogue.on_document(ADMIN, f"{TITLE}.md", len(LAW.encode()), lambda: LAW.encode())
    assert f"已加入《{TITLE}》" in reply.plain() and "索引已更新" in reply.plain()
    assert TITLE in _titles(settings)

    # The command line, without and with explicit folders, keeps the upload.
    for args in (["index"], ["index", str(KNOWLEDGE / "training")]):
        result = _cli(args, settings)
        assert result.returncode == 0, result.stderr
        assert str(settings.upload_dir) in result.stderr and "移除" not in result.stderr
        assert TITLE in _titles(settings)
    answer = _cli(["ask", "塔吊信号工作业前要用什么旗语交接？"], settings)
    assert f"《{TITLE}》第二条" in answer.stdout, answer.stdout + answer.stderr

    # The in-chat /reindex keeps it too.
    assert "索引已更新" in dialogue.on_command(ADMIN, "reindex").plain()
    assert TITLE in _titles(settings)

    # Removed from the upload folder: gone from the index at the next build, and the report says so.
    (settings.upload_dir / f"{TITLE}.md").unlink()
    result = _cli(["index"], settings)
    assert result.returncode == 0 and f"移除：{TITLE}" in result.stderr, result.stderr
    assert TITLE not in _titles(settings)
    assert "没有找到" in _cli(["ask", "塔吊信号工作业前要用什么旗语交接？"], settings).stdout


def test_start_up_index_includes_uploads(settings, embedder) -> None:
    settings.upload_dir.mkdir(parents=True)
    (settings.upload_dir / f"{TITLE}.md").write_text(LAW, encoding="utf-8")
    kb = KnowledgeBase(settings, embedder)
    report = kb.ensure_index()
    assert report is not None and TITLE in report.added
    assert TITLE in _titles(settings)
    hits = kb.retriever().search("塔吊信号工作业前要用什么旗语交接？", k=1)
    assert (hits[0].doc, hits[0].label) == (TITLE, "第二条")
