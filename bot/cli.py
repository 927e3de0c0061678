"""Command line: ``python -m bot [index|ask|eval|chat|serve|duties|quiz|doctor|backup] …``.

With no command: the Telegram bot when TELEGRAM_BOT_TOKEN is set, else the terminal chat.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from bot.config import Settings, load_settings


def _progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def _knowledge(settings: Settings, build_if_missing: bool = True):
    from bot.knowledge import KnowledgeBase

    kb = KnowledgeBase(settings)
    if build_if_missing:
        if not kb.has_index():
            print("尚未建立索引，正在根据知识库目录建立……", file=sys.stderr)
        report = kb.ensure_index(_progress)  # also rebuilds when no intact version is left
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

    if args.nice:
        os.nice(args.nice)  # a re-index started by the bot leaves the CPU to questions first
    kb = KnowledgeBase(settings)
    paths = [Path(p) for p in args.paths] or None
    print("索引来源：" + "、".join(str(p) for p in kb.sources(paths)), file=sys.stderr)
    try:
        report = kb.reindex(paths, _progress)
    except IndexBusy as exc:
        print(f"无法建立索引：{exc}", file=sys.stderr)
        return 2
    _print_report(report)
    if args.report_json:
        print(json.dumps(asdict(report), ensure_ascii=False), flush=True)
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


def _quiz_service(settings: Settings, kb, store):
    """The curated bank plus questions generated from the indexed articles."""
    from bot.quiz.bank import load_bank
    from bot.quiz.engine import QuizService
    from bot.quiz.generate import generate_questions

    report = load_bank([settings.quiz_bank])
    for fault in report.faults:
        print(f"题库问题：{fault}", file=sys.stderr)
    questions = report.questions
    generated = []
    if kb.has_index():
        retriever = kb.retriever()
        # Citations name the document as its heading does (the bank may use short names).
        questions = [replace(q, doc=retriever.names.resolve(q.doc) or q.doc) for q in questions]
        generated = generate_questions(retriever)
    return QuizService(store, questions + generated, settings)


def _dialogue(settings: Settings):
    from bot.dialogue import Dialogue
    from bot.storage import Store

    kb = _knowledge(settings)
    store = Store(settings.db_path)
    return Dialogue(kb, store, _quiz_service(settings, kb, store))


def cmd_quiz(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from bot.quiz import reports
    from bot.quiz.bank import load_bank
    from bot.storage import Store

    if args.action == "validate":
        report = load_bank([Path(p) for p in args.files])
        for fault in report.faults:
            print(fault)
        print(f"{len(report.questions)} 道题通过检查，{len(report.faults)} 处问题。")
        return 1 if report.faults else 0
    store = Store(settings.db_path)
    if args.action == "export":
        rows = reports.export_rows(store, date.fromisoformat(args.since) if args.since else None)
        data = reports.to_xlsx(rows) if args.format == "xlsx" else reports.to_csv(rows)
        if args.output:
            Path(args.output).write_bytes(data)
            print(f"已导出 {len(rows)} 条测验记录到 {args.output}", file=sys.stderr)
        elif args.format == "xlsx":
            print("xlsx 需要用 -o 指定输出文件。", file=sys.stderr)
            return 2
        else:
            sys.stdout.write(data.decode("utf-8-sig"))
        return 0
    if args.action == "verify":
        from bot.quiz.engine import QuizService

        attempt = QuizService(store, [], settings).attempt_by_code(args.code)
        if attempt is None or not attempt["passed"]:
            print(f"验证码 {args.code} 无效：没有对应的合格记录。")
            return 1
        print(f"有效：{attempt.get('name') or attempt['user_id']}（{attempt.get('unit') or '未填单位'}），"
              f"{attempt['quiz']} {attempt['score']} 分，合格，{attempt['credits']:g} 学时，"
              f"完成于 {attempt['finished_at']}。")
        return 0
    if args.action == "stats":
        kb = _knowledge(settings)
        service = _quiz_service(settings, kb, store)
        for row in reports.question_stats(store, service.by_id):
            extra = f" 区分度 {row['discrimination']}" if row["discrimination"] is not None else ""
            print(f"{row['question_id']}\t作答 {row['answers']}\t难度指数 {row['facility']:.2f}{extra}")
        return 0
    return 2


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.terminal import run_chat

    run_chat(_dialogue(settings))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.telegram_bot import resolve_webhook_secret, run_bot
    from bot.webhook import WebhookConfigError

    if not settings.telegram_token:
        print("请先设置 TELEGRAM_BOT_TOKEN。", file=sys.stderr)
        return 2
    try:
        settings = resolve_webhook_secret(settings)  # before anything is loaded: a bad secret stops at once
    except WebhookConfigError as exc:
        print(str(exc), file=sys.stderr)
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


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from bot.doctor import FAIL, run_checks, summary
    from bot.knowledge import knowledge_sources

    findings = run_checks(settings, knowledge_sources(settings))
    for finding in findings:
        print(finding.line())
    print(summary(findings))
    return 1 if any(f.status == FAIL for f in findings) else 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from bot.backup import BackupError, backup_database

    target = Path(args.path)
    if args.path.endswith(("/", "\\")):  # a folder to be: the copy gets a dated name inside it
        target.mkdir(parents=True, exist_ok=True)
    try:
        report = backup_database(settings.db_path, target, force=args.force)
    except BackupError as exc:
        print(f"无法备份：{exc}", file=sys.stderr)
        return 2
    counts = report.counts
    print(f"已备份到 {report.path}（{report.size / 1024:.0f} KB：{counts.get('users', 0)} 位用户，"
          f"{counts.get('questions', 0)} 条提问，{counts.get('quiz_attempts', 0)} 次测验）")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="质量通：建设工程质量法规问答助手")
    parser.add_argument("-v", "--verbose", action="store_true", help="详细日志")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("index", help="建立或更新索引（增量）")
    p.add_argument("paths", nargs="*", help="文件或目录；缺省为 BOT_KNOWLEDGE_DIRS")
    p.add_argument("--nice", type=int, default=0, help="以较低的 CPU 优先级运行（如 10）")
    p.add_argument("--report-json", action="store_true", help="最后在标准输出打印一行 JSON 报告")
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

    p = sub.add_parser("quiz", help="题库检查、测验记录导出与证明核验")
    quiz = p.add_subparsers(dest="action", required=True)
    q = quiz.add_parser("validate", help="检查题库文件")
    q.add_argument("files", nargs="+")
    q = quiz.add_parser("export", help="导出测验记录（每次测验一行）")
    q.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    q.add_argument("--since", help="只导出此日期（YYYY-MM-DD）之后开始的测验")
    q.add_argument("-o", "--output", help="输出文件；csv 缺省输出到屏幕")
    q = quiz.add_parser("verify", help="核验合格证明的验证码")
    q.add_argument("code")
    quiz.add_parser("stats", help="每道题的难度指数与区分度")
    p.set_defaults(func=cmd_quiz)

    p = sub.add_parser("doctor", help="检查配置、索引、数据库和 Telegram 令牌，列出问题")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("backup", help="备份记录库（SQLite 在线备份，机器人运行时也可执行）")
    p.add_argument("path", help="备份文件，或目录（自动以日期命名）")
    p.add_argument("--force", action="store_true", help="覆盖已有的备份文件")
    p.set_defaults(func=cmd_backup)

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
