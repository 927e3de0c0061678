"""A terminal chat on the same knowledge base: type a question, get the cited answer."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.knowledge import KnowledgeBase

WELCOME = (
    "质量通：建设工程质量法规问答。直接输入问题，例如“塔吊装完多久要登记？”\n"
    "命令：原文（上一个回答所依据条文的全文）、/about（已收录资料）、/help、/quit"
)
HELP = (
    "直接输入您的问题，我会引用法规原文并注明条款。\n"
    "也可以直接查条文，如“质量条例第三十条”“《建筑法》第五十四条”。\n"
    "输入“原文”查看上一个回答所依据条文的全文；/about 查看已收录资料；/quit 退出。"
)
MAX_QUESTION_CHARS = 500


def about(kb: KnowledgeBase) -> str:
    snapshot = kb.retriever().snapshot
    docs = snapshot.documents
    lines = [f"索引版本 {snapshot.version}（{snapshot.manifest.get('created_at', '')}），共 {len(docs)} 份资料："]
    lines.extend(f"- {d['title']}" + (f"（{d['date']}）" if d.get("date") else "") for d in docs)
    return "\n".join(lines)


def run_chat(kb: KnowledgeBase, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read questions line by line until EOF or /quit."""
    interactive = stdin.isatty()
    print(WELCOME, file=stdout)
    last_question = ""
    while True:
        if interactive:
            print("\n您> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if text in {"/quit", "/exit", "退出"}:
            break
        if text in {"/help", "/start", "帮助"}:
            reply = HELP
        elif text == "/about":
            reply = about(kb)
        elif text in {"原文", "/full"}:
            reply = kb.answer(last_question, full=True).text if last_question else "请先提一个问题。"
        elif text.startswith("/"):
            reply = "未知命令。输入 /help 查看用法。"
        elif len(text) > MAX_QUESTION_CHARS:
            reply = f"问题太长了（{len(text)} 字），请精简到 {MAX_QUESTION_CHARS} 字以内再问。"
        else:
            last_question = text
            reply = kb.answer(text).text
        print(f"\n质量通> {reply}", file=stdout, flush=True)
