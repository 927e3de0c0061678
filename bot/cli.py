"""Command line: ``python -m bot [index|ask|eval|chat|serve|duties] …``.

With no command: the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the terminal chat.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from bot.config import Settings, load_settings


def _progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def _knowledge(settings: Settings, build_if_missing: bool = True):
    from bot.knowledge import KnowledgeBase

    kb = KnowledgeBase(settings)
    if build_if_missing and not kb.has_index():
        print("尚未建立索引，正在根据知识库目录建立……", file=sys.stderr)
        report = kb.ensure_index(_progress)
        if report:
            _print_report(report)
    return kb


def _print_report(report) -> None:
    print(
        f"索引版本 {report.version}：{report.documents} 个文件，{report.chunks} 个条文块；"
        f"新向量化 {report.embedded} 块，沿用未改动文件 {report.reused_documents} 个；用时 {report.seconds:.1f} 秒",
        file=sys.stderr,
    )
    for label, items in (("新增", report.added), ("更新", report.changed), ("移除", report.removed)):
        if items:
            print(f"  {label}：" + "、".join(items), file=sys.stderr)
    for path, reason in report.errors:
        print(f"  已跳过 {path}：{reason}", file=sys.stderr)


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from bot.knowledge import KnowledgeBase
    from bot.retrieval.indexer import IndexBusy

    kb = KnowledgeBase(settings)
    paths = [Path(p) for p in args.paths] or None
    try:
        report = kb.reindex(paths, _progress)
    except IndexBusy as exc:
        print(f"无法建立索引：{exc}", file=sys.stderr)
        return 2
    _print_report(report)
    return 0 if report.documents else 1


def _answer_json(kb, question: str, full: bool) -> dict:
    answer = kb.answer(question, full=full)
    return {
        "question": question,
        "answered": answer.answered,
        "answer": answer.text,
        "citations": answer.citations,
        "mode": answer.mode,
    }


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    kb = _knowledge(settings)
    questions = [" ".join(args.question)] if args.question else None
    if questions is None:
        for line in sys.stdin:
            question = line.strip()
            if not question:
                continue
            _emit(kb, question, args)
        return 0
    _emit(kb, questions[0], args)
    return 0


def _emit(kb, question: str, args: argparse.Namespace) -> None:
    result = _answer_json(kb, question, args.full)
    if args.json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return
    print(result["answer"])
    if args.full or not result["answered"]:
        return
    print("\n相关条文：" + "；".join(f"《{c['doc']}》{c['loc']}" for c in result["citations"][1:6]), flush=True)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluation import evaluate, load_questions

    kb = _knowledge(settings)
    questions = load_questions(Path(p) for p in args.files)
    kb.answer("预热")  # load models before timing
    report = evaluate(questions, lambda q: _answer_json(kb, q, False))
    print("\n".join(report.lines))
    return 0


def _dialogue(settings: Settings):
    from bot.dialogue import Dialogue
    from bot.storage import Store

    return Dialogue(_knowledge(settings), Store(settings.db_path))


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.terminal import run_chat

    run_chat(_dialogue(settings))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.telegram_bot import run_bot

    if not settings.telegram_token:
        print("请先设置 TELEGRAM_BOT_TOKEN。", file=sys.stderr)
        return 2
    run_bot(_dialogue(settings), settings)
    return 0


def cmd_duties(args: argparse.Namespace, settings: Settings) -> int:
    from bot.answers.duties import render_duties

    kb = _knowledge(settings)
    duties = kb.duties(args.role)
    if duties is None:
        print(f"不认识的角色“{args.role}”。可选：" + "、".join(kb.glossary.roles), file=sys.stderr)
        return 2
    print(render_duties(duties, args.limit))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="质量通：建设工程质量法规问答助手")
    parser.add_argument("-v", "--verbose", action="store_true", help="详细日志")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("index", help="建立或更新索引（增量）")
    p.add_argument("paths", nargs="*", help="文件或目录；缺省为 BOT_KNOWLEDGE_DIRS")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="提问；不带问题时从标准输入逐行读取")
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true", help="每个问题输出一行 JSON")
    p.add_argument("--full", action="store_true", help="给出条文全文")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="终端对话（无需 Telegram）")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("serve", help="启动 Telegram 机器人（需要 TELEGRAM_BOT_TOKEN）")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("duties", help="列出某一角色的法定义务")
    p.add_argument("role", help="如 施工单位、建设单位（甲方）、工程监理单位（监理）、检测机构、项目负责人")
    p.add_argument("--limit", type=int, default=None, help="最多列出多少条")
    p.set_defaults(func=cmd_duties)

    p = sub.add_parser("eval", help="在评测集上计算检索与回答指标")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = load_settings()
    if args.command is None:
        args = parser.parse_args(["serve" if settings.telegram_token else "chat"])
    started = time.perf_counter()
    code = int(args.func(args, settings) or 0)
    logging.getLogger(__name__).info("%s took %.2fs", args.command, time.perf_counter() - started)
    return code
