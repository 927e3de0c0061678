"""The bot re-indexes in a child process at lower CPU priority, with the same settings and the same lock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import load_settings, settings_env
from bot.reindex_process import reindex_in_child
from bot.retrieval.indexer import IndexBusy, index_lock
from bot.retrieval.store import load_snapshot
from tests.conftest import KNOWLEDGE, make_settings


def test_settings_reach_the_child_unchanged_but_without_the_telegram_secrets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, BOT_ADMIN_IDS="3,1", BOT_KNOWLEDGE_DIRS=f"{KNOWLEDGE}:{tmp_path}",
                             BOT_QUIZ_CREDITS="1.5", TELEGRAM_BOT_TOKEN="1:SECRET", BOT_LLM_API_KEY="sk-secret",
                             BOT_WEBHOOK_SECRET="w" * 20)
    env = settings_env(settings)
    assert "TELEGRAM_BOT_TOKEN" not in env and "BOT_WEBHOOK_SECRET" not in env
    assert load_settings(env) == replace(settings, telegram_token="", webhook_secret="")


def test_child_builds_the_configured_knowledge_with_uploads(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, BOT_KNOWLEDGE_DIRS=str(KNOWLEDGE / "training"))
    settings.upload_dir.mkdir(parents=True)
    (settings.upload_dir / "示范规定.md").write_text("# 示范规定\n\n第一条 甲。\n\n第二条 乙。\n", encoding="utf-8")
    report = reindex_in_child(settings)
    assert report.documents == len(list((KNOWLEDGE / "training").glob("*.md"))) + 1
    assert "示范规定" in report.added
    assert "示范规定" in {d["title"] for d in load_snapshot(settings.index_dir).documents}


def test_a_busy_index_is_reported_as_busy(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, BOT_KNOWLEDGE_DIRS=str(KNOWLEDGE / "training"))
    with index_lock(settings.index_dir), pytest.raises(IndexBusy):
        reindex_in_child(settings)
