"""Operations: ``doctor`` says what is wrong, ``backup`` copies the records consistently, old logs are pruned."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.storage import Store
from tests.conftest import ROOT
from tests.fake_bot_api import TOKEN, FakeBotApi


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


@pytest.fixture
def api():
    server = FakeBotApi().start()
    yield server
    server.stop()


def test_doctor_on_a_healthy_setup(env_for, api: FakeBotApi, tmp_path: Path) -> None:
    Store(tmp_path / "db.sqlite")
    env = dict(env_for, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
               BOT_DB_PATH=str(tmp_path / "db.sqlite"))
    result = _run(["doctor"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "✓ [索引] 版本" in out and "份资料" in out
    assert "✓ [数据库]" in out and "✓ [Telegram] 令牌有效：@zhiliangtong_bot" in out
    assert "✗" not in out and TOKEN not in out


def test_doctor_names_every_problem(env_for, api: FakeBotApi, tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    env = dict(env_for, TELEGRAM_BOT_TOKEN="999:WRONG-TOKEN", TELEGRAM_API_BASE_URL=api.base_url,
               BOT_DB_PATH=str(broken), BOT_INDEX_DIR=str(tmp_path / "no-index"),
               BOT_KNOWLEDGE_DIRS=f"{env_for['BOT_KNOWLEDGE_DIRS']}:{tmp_path / 'missing'}",
               BOT_QUIZ_OPEN_PERIOD="1", BOT_LLM_BASE_URL="http://127.0.0.1:9/v1",
               BOT_WEBHOOK_URL="http://bot.example.cn/hook", BOT_WEBHOOK_SECRET="short",
               BOT_TIMEZONE="Asia/Guangzhou")
    result = _run(["doctor"], env)
    assert result.returncode == 1
    out = result.stdout
    for problem in ("BOT_QUIZ_OPEN_PERIOD=1 超出范围", "知识库目录不存在", "BOT_LLM_BASE_URL 与 BOT_LLM_MODEL",
                    "必须是 https", "BOT_WEBHOOK_SECRET 太短", "还没有索引", "无法读取", "令牌无效",
                    "未知的时区 'Asia/Guangzhou'"):
        assert problem in out, problem
    assert "WRONG-TOKEN" not in out and "short" not in out.replace("太短", "")
    assert out.strip().splitlines()[-1].startswith("发现 ")


def test_doctor_sees_a_damaged_index_and_a_stale_one(env_for, tmp_path: Path) -> None:
    import shutil

    index = tmp_path / "index"
    shutil.copytree(env_for["BOT_INDEX_DIR"], index)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "新规定.md").write_text("# 新规定\n\n第一条 甲。\n\n第二条 乙。\n", encoding="utf-8")
    env = dict(env_for, BOT_INDEX_DIR=str(index), BOT_KNOWLEDGE_DIRS=f"{env_for['BOT_KNOWLEDGE_DIRS']}:{extra}")
    env.pop("TELEGRAM_BOT_TOKEN", None)
    result = _run(["doctor"], env)
    assert result.returncode == 0 and "! [索引] 知识库在建立索引后有变化：新增 1 个（新规定.md）" in result.stdout

    version = (index / "CURRENT").read_text().strip()
    (index / "versions" / version / "chunks.jsonl").write_text("{broken", encoding="utf-8")
    result = _run(["doctor"], env)
    assert result.returncode == 1 and f"✗ [索引] 当前版本 {version} 已损坏" in result.stdout


def _seed(store: Store, days_ago: int, user: int) -> int:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="milliseconds")
    store.touch_user(user, f"用户{user}")
    qid = store.log_question(user, f"{days_ago} 天前的问题", True, "extractive", "条例", "第一条", "答")
    store.add_feedback(qid, user, 1)
    with store.lock, store.db.conn:
        store.db.execute("update questions set asked_at = ? where id = ?", [at, qid])
        store.db.execute("update feedback set at = ? where question_id = ?", [at, qid])
        store.db["quiz_attempts"].insert({"user_id": user, "quiz": "质量月", "status": "finished", "score": 90,
                                          "passed": 1, "credits": 2.0, "started_at": at, "finished_at": at,
                                          "cert_code": f"CODE{user}"})
    return qid


def test_old_question_logs_are_pruned_and_education_records_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    old, recent = _seed(store, 400, 1), _seed(store, 10, 2)
    assert store.prune_questions(180) == 1
    assert store.question(old) is None and store.question(recent) is not None
    assert [r["question_id"] for r in store.rows("select * from feedback")] == [recent]
    assert len(store.rows("select * from quiz_attempts")) == 2 and len(store.rows("select * from users")) == 2


def test_backup_is_consistent_while_the_bot_writes(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    for n in range(50):
        _seed(store, 1, n)
    stop = threading.Event()

    def keep_writing() -> None:
        n = 1000
        while not stop.is_set():
            store.log_question(n, "写入中的问题", True, "extractive", "条例", "第一条", "答")
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    env = dict(os.environ, BOT_DB_PATH=str(tmp_path / "db.sqlite"))
    try:
        first = _run(["backup", str(tmp_path / "backups") + "/"], env)
        again = _run(["backup", str(tmp_path / "copy.db")], env)
        refused = _run(["backup", str(tmp_path / "copy.db")], env)
    finally:
        stop.set()
        writer.join()
    assert first.returncode == 0 and "已备份到" in first.stdout and "50 位用户" in first.stdout, first.stderr
    dated = list((tmp_path / "backups").glob("zhiliangtong-*.db"))
    assert len(dated) == 1 and not list((tmp_path / "backups").glob(".*partial"))
    assert refused.returncode == 2 and "已存在" in refused.stderr
    assert again.returncode == 0
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    assert copy.execute("select count(*) from quiz_attempts").fetchone()[0] == 50
    assert copy.execute("select count(*) from questions").fetchone()[0] >= 50
    copy.close()
    assert not (tmp_path / "copy.db-wal").exists()
    assert _run(["backup", str(tmp_path / "x.db")], dict(env, BOT_DB_PATH=str(tmp_path / "none.db"))).returncode == 2


def test_the_running_bot_prunes_old_question_logs(corpus_settings, embedder, tmp_path: Path) -> None:
    import time

    from tests.bot_harness import start_bot

    store = Store(tmp_path / "db.sqlite")
    old, recent = _seed(store, 400, 1), _seed(store, 10, 2)
    bot = start_bot(corpus_settings, embedder, tmp_path, log_retention_days=180)
    try:
        deadline = time.monotonic() + 90
        while store.question(old) is not None:
            assert time.monotonic() < deadline, "old question log still there"
            time.sleep(0.5)
        assert store.question(recent) is not None
        assert len(store.rows("select * from quiz_attempts")) == 2
    finally:
        bot.stop()
        bot.api.stop()
