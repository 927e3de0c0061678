"""The command-line contract: ``ask --json`` (one question or stdin lines), ``eval``, ``index``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EVAL, ROOT


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
        env=env, cwd=ROOT, timeout=300,
    )


def test_ask_json_reads_stdin_and_answers_in_order(env_for) -> None:
    questions = ["塔吊装完多久要登记？", "", "《建筑法》第五十四条", "公积金贷款买二套房，首付最低要几成？"]
    result = _run(["ask", "--json"], env_for, "\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == [q for q in questions if q]
    for row in rows:
        assert set(row) >= {"question", "answered", "answer", "citations"}
        assert len(row["citations"]) >= 10
        assert {"doc", "loc", "score", "text"} <= set(row["citations"][0])
        scores = [c["score"] for c in row["citations"]]
        assert scores == sorted(scores, reverse=True)
    assert rows[1]["citations"][0]["doc"] == "中华人民共和国建筑法"
    assert rows[1]["citations"][0]["loc"] == "第五十四条"
    assert rows[1]["answered"] is True and "《中华人民共和国建筑法》第五十四条" in rows[1]["answer"]
    assert rows[2]["answered"] is False and "没有找到" in rows[2]["answer"]


def test_ask_json_lines_with_a_chat_id_form_one_conversation(env_for) -> None:
    lines = [
        {"chat": "a", "question": "塔机安装验收合格以后还要去哪里办登记，有期限吗"},
        {"chat": "b", "question": "投标保证金最多能收多少"},
        {"chat": "a", "question": "是第几条？"},
        "是第几条？",  # plain lines stay independent
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else x for x in lines) + "\n"
    result = _run(["ask", "--json"], env_for, stdin)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == ["塔机安装验收合格以后还要去哪里办登记，有期限吗", "投标保证金最多能收多少",
                                           "是第几条？", "是第几条？"]
    assert rows[2]["context"].startswith("接上一问") and rows[2]["citations"][0]["loc"] == "第三十五条"
    assert not rows[3]["context"]


def test_ask_single_question_plain_text(env_for) -> None:
    result = _run(["ask", "商砼进场以后总包还用自己再检验一遍吗？"], env_for)
    assert result.returncode == 0, result.stderr
    assert "《建设工程质量管理条例》第二十九条" in result.stdout
    assert "书面记录和专人签字" in result.stdout


def test_eval_prints_metrics(env_for) -> None:
    result = _run(["eval", str(EVAL / "dev_a.jsonl")], env_for)
    assert result.returncode == 0, result.stderr
    assert "Recall@1" in result.stdout and "MRR" in result.stdout and "ms per question" in result.stdout
    assert "duty" in result.stdout


def test_index_command_reports_skipped_files(tmp_path: Path, env_for) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "条例.md").write_text("# 测试条例\n\n第一条 施工单位应当检验。\n\n第二条 监理单位应当旁站。\n",
                                 encoding="utf-8")
    (docs / "坏.pdf").write_bytes(b"%PDF-1.4 broken")
    env = dict(env_for, BOT_INDEX_DIR=str(tmp_path / "index"))
    result = _run(["index", str(docs)], env)
    assert result.returncode == 0, result.stderr
    assert "1 个文件" in result.stderr and "坏.pdf" in result.stderr
    assert (tmp_path / "index" / "CURRENT").exists()


def test_default_embedder_does_not_import_torch(env_for) -> None:
    code = (
        "import sys; from bot.knowledge import KnowledgeBase; from bot.config import load_settings;"
        "kb = KnowledgeBase(load_settings()); kb.answer('塔吊');"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_for, cwd=ROOT)
    assert result.stdout.strip() == "False False", result.stderr


def test_terminal_chat_runs_the_same_dialogue(env_for, tmp_path: Path) -> None:
    env = dict(env_for, BOT_DB_PATH=str(tmp_path / "chat.db"), BOT_QUIZ_SIZE="10")
    lines = ["/start", "施工单位", "质量员", "商砼进场以后总包还用自己再检验一遍吗", "原文", "/foo", "/quiz",
             *["A"] * 10, "/myscore", "/quit"]
    result = _run(["chat"], env, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "可选：建设单位" in out and "已记住：施工单位·质量员" in out
    assert "——《建设工程质量管理条例》第二十九条（第四章 施工单位的质量责任和义务）" in out
    assert "未经检验或者检验不合格的，不得使用" in out
    assert "未知命令 /foo" in out
    # No campaign is open: the quiz is practice.
    assert "（练习 1/10）" in out and "（练习 10/10）" in out
    assert "练习结束：答对" in out and "您的测验记录（共 1 次）" in out


@pytest.mark.parametrize("command", ["chat", "serve"])
def test_unknown_timezone_stops_the_chat_before_it_starts(env_for, command: str) -> None:
    # Loopback only: should the check be missing, serve fails fast here instead of reaching out to Telegram.
    env = dict(env_for, BOT_TIMEZONE="Asia/Guangzhou", TELEGRAM_BOT_TOKEN="123:TEST",
               TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot")
    result = _run([command], env, stdin="保修期多久\n")
    assert result.returncode == 2
    assert "未知的时区 'Asia/Guangzhou'" in result.stderr and "TEST" not in result.stderr + result.stdout
