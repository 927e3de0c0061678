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
            folders = "、".join(str(p) for p in settings.knowledge_dirs)
            print(f"尚未建立索引，正在根据知识库目录（{folders}）建立，首次约需两三分钟……", file=sys.stderr)
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


def _answer_json(kb, question: str, full: bool, context=None) -> dict:
    answer = kb.answer(question, full=full, context=context)
    return {
        "question": question,
        "answered": answer.answered,
        "answer": answer.text,
        "citations": answer.citations,
        "mode": answer.mode,
        "context": answer.context,
        "_turn": answer.turn,
    }


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """One question from the arguments, else one per stdin line. A line may be a JSON object
    ``{"chat": "ID", "question": "…"}``: lines with the same chat id are one conversation, in order."""
    kb = _knowledge(settings)
    if args.question:
        _emit(kb, " ".join(args.question), args)
        return 0
    turns: dict[str, object] = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        chat = None
        if line.startswith("{"):
            try:
                item = json.loads(line)
                chat, line = str(item.get("chat", "")) or None, str(item.get("question", "")).strip()
            except (ValueError, AttributeError):
                pass
        if not line:
            continue
        result = _emit(kb, line, args, turns.get(chat) if chat else None)
        if chat and result["_turn"] is not None:
            turns[chat] = result["_turn"]
    return 0


def _emit(kb, question: str, args: argparse.Namespace, context=None) -> dict:
    result = _answer_json(kb, question, args.full, context)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, ensure_ascii=False),
              flush=True)
        return result
    print(result["answer"])
    if not args.full and result["answered"]:
        print("\n相关条文：" + "；".join(f"《{c['doc']}》{c['loc']}" for c in result["citations"][1:6]), flush=True)
    return result


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluation import evaluate, evaluate_conversations, load_questions

    kb = _knowledge(settings)
    files = [Path(p) for p in args.files]
    if not files:
        files = sorted(Path("tests/benchmark").glob("*.jsonl"))
        shared = Path("../shared/eval")
        files += sorted(shared.glob("dev_*.jsonl")) if shared.is_dir() else []
    groups: dict[str, list[dict]] = {}
    conversations: dict[str, list[dict]] = {}
    for path in files:
        for q in load_questions([path]):
            name = q.get("split") or (path.parent.name if path.parent.name != "benchmark" else path.stem)
            (conversations if "turns" in q else groups).setdefault(name, []).append(q)
    kb.answer("预热")  # load models before timing
    order = {"train": 0, "test": 1}
    summary = []
    for name, questions in sorted(groups.items(), key=lambda item: order.get(item[0], 2)):
        report = evaluate(questions, lambda q: _answer_json(kb, q, False))
        print(f"== {name} ==")
        shown = report.lines if args.verbose_misses else [
            line for line in report.lines if not line.startswith("  rank=") and line != "not ranked first:"]
        print("\n".join(shown))
        summary.append((name, report.metrics))
    for name, convs in sorted(conversations.items(), key=lambda item: order.get(item[0], 2)):
        report = evaluate_conversations(convs, lambda q, c: _answer_json(kb, q, False, c))
        print(f"== conversations: {name} ==")
        shown = report.lines if args.verbose_misses else [
            line for line in report.lines if not line.startswith("  c-") and line != "not first:"]
        print("\n".join(shown))
    if len(summary) > 1:
        print("== side by side ==")
        print(f"{'set':<8}{'n':>5}{'R@1':>7}{'R@5':>7}{'MRR':>7}{'facts':>7}{'answer':>8}{'decline':>9}")
        for name, m in summary:
            declined = m["abstained"] / m["unanswerable"] if m["unanswerable"] else float("nan")
            print(f"{name:<8}{int(m['questions']):>5}{m['recall@1']:>7.3f}{m['recall@5']:>7.3f}{m['mrr']:>7.3f}"
                  f"{m['key_facts']:>7.3f}{m['answered_rate']:>8.3f}{declined:>9.3f}")
    return 0


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluation import load_split
    from bot.retrieval.fitting import write_model
    from bot.retrieval.ranker import model_file

    kb = _knowledge(settings)
    questions = load_split(Path(args.benchmark), "train")
    if not questions:
        print(f"{args.benchmark} 中没有 train 划分的题目。", file=sys.stderr)
        return 2
    path = model_file(settings.models_dir, kb.embedder.id)
    data = write_model(kb.retriever(), questions, path, lambda m: print(f"  … {m}", file=sys.stderr))
    print(f"已为 {kb.embedder.id} 拟合排序与拒答模型（{len(questions)} 道 train 题），写入 {path}", file=sys.stderr)
    print(json.dumps(data["fitted_on"], ensure_ascii=False), file=sys.stderr)
    report = kb.reindex(None, _progress)
    _print_report(report)
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
    from bot.quiz.bank import load_bank
    from bot.storage import Store

    if args.action == "validate":
        report = load_bank([Path(p) for p in args.files])
        for fault in report.faults:
            print(fault)
        for warning in report.warnings:
            print(f"警告：{warning}")
        print(f"{len(report.questions)} 道题通过检查，{len(report.faults)} 处问题，{len(report.warnings)} 条警告。")
        return 1 if report.faults else 0
    from bot.quiz.engine import QuizService

    store = Store(settings.db_path)
    service = QuizService(store, [], settings)  # registers BOT_QUIZ_CAMPAIGN
    handler = {"export": _quiz_export, "verify": _quiz_verify, "revoke": _quiz_revoke, "stats": _quiz_stats,
               "campaign": _quiz_campaign}[args.action]
    return handler(args, settings, service)


def _campaign_id(service, key: str | None) -> int | None:
    from bot.quiz.campaigns import CampaignError

    if not key:
        return None
    campaign = service.campaigns.find(key)
    if campaign is None:
        raise CampaignError(f"没有找到活动“{key}”（python -m bot quiz campaign list 查看编号）。")
    return campaign.id


def _quiz_export(args: argparse.Namespace, settings: Settings, service) -> int:
    from datetime import date

    from bot.quiz import export

    rows = export.attempt_rows(service.store, settings.timezone, date.fromisoformat(args.since) if args.since
                               else None, _campaign_id(service, args.campaign))
    if args.format == "xlsx":
        data = export.to_xlsx(rows)
    elif args.summary:
        data = export.to_csv(export.employer_summary(rows), export.SUMMARY_COLUMNS)
    else:
        data = export.to_csv(rows)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"已导出 {len(rows)} 条测验记录到 {args.output}（时间为 {settings.timezone} 本地时间）", file=sys.stderr)
    elif args.format == "xlsx":
        print("xlsx 需要用 -o 指定输出文件。", file=sys.stderr)
        return 2
    else:
        sys.stdout.write(data.decode("utf-8-sig"))
    return 0


def _quiz_verify(args: argparse.Namespace, settings: Settings, service) -> int:
    from bot.quiz.certificate import record_lines

    attempt = service.attempt_by_code(args.code)
    if attempt is None:
        print(f"验证码 {args.code} 无效：没有对应的合格记录。")
        return 1
    print("\n".join(record_lines(attempt, settings.timezone)))
    return 1 if attempt.get("revoked_at") else 0


def _quiz_revoke(args: argparse.Namespace, settings: Settings, service) -> int:
    attempt = service.revoke(args.code, args.reason)
    if attempt is None:
        print(f"验证码 {args.code} 不存在。")
        return 1
    print(f"已撤销 {attempt['cert_code']}（{attempt['person_name']}）：{attempt['revoked_reason']}")
    return 0


def _quiz_stats(args: argparse.Namespace, settings: Settings, service) -> int:
    from bot.quiz import charts, export, itemstats

    campaign_id = _campaign_id(service, args.campaign)
    analysis = itemstats.analyse(itemstats.attempt_marks(service.store, campaign_id, not args.all_attempts))
    print("题目\t作答\t难度指数\t区分度%\t区分效率%\t提示")
    for item in analysis.items:
        di = f"{item.discrimination:.1f}" if item.discrimination is not None else "—"
        de = f"{item.efficiency:.1f}" if item.efficiency is not None else "—"
        print(f"{item.question_id}\t{item.attempts}\t{item.facility:.2f}\t{di}\t{de}\t{'、'.join(item.flags)}")
    test = analysis.test
    if test is not None:
        print(f"测验 {test.attempts} 次，{test.questions} 题，平均得分率 {test.mean:.1f}%", end="")
        if test.cic is not None:
            print(f"；内部一致性系数 {test.cic:.1f}%，误差比 {test.error_ratio:.1f}%")
        else:
            why = "随机组卷" if not test.fixed_form else "作答太少"
            print(f"；{why}，不计算内部一致性系数")
    if args.charts:
        folder = Path(args.charts)
        folder.mkdir(parents=True, exist_ok=True)
        rows = export.attempt_rows(service.store, settings.timezone, campaign_id=campaign_id)
        finished = [r for r in rows if r["credited"] and r["finished_ok"]]
        campaign = service.campaigns.get(campaign_id)
        pass_mark = campaign.rules.pass_mark if campaign else settings.quiz_pass_mark
        (folder / "scores.png").write_bytes(charts.score_distribution_png([r["score"] for r in finished], pass_mark))
        (folder / "employers.png").write_bytes(charts.employer_pass_rate_png(export.employer_summary(rows)))
        print(f"图表已写入 {folder}", file=sys.stderr)
    return 0


def _quiz_campaign(args: argparse.Namespace, settings: Settings, service) -> int:
    from bot.quiz.campaigns import CampaignError, parse_overrides, parse_window

    try:
        if args.campaign_action == "open":
            name, start, end = parse_window(args.window)
            campaign = service.campaigns.open(name, start, end, source="cli", **parse_overrides(args.settings))
            print(f"已开启（编号 {campaign.id}）：{campaign.describe()}")
        elif args.campaign_action == "close":
            campaign = service.campaigns.find(args.key)
            if campaign is None:
                print(f"没有找到活动“{args.key}”。", file=sys.stderr)
                return 1
            service.campaigns.close(campaign)
            print(f"已关闭：{campaign.name}（编号 {campaign.id}）")
        else:
            current = service.campaign()
            print(f"当前活动：{current.describe()}" if current else "当前没有进行中的活动。")
            for campaign in service.campaigns.all():
                print(f"{campaign.id}\t{'进行中' if campaign.status == 'open' else '已关闭'}\t{campaign.describe()}")
    except CampaignError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def _timezone_ok(settings: Settings) -> bool:
    """Every time shown to users depends on BOT_TIMEZONE: a wrong one stops the chat before it starts."""
    from bot.localtime import TimezoneError, zone

    try:
        zone(settings.timezone)
    except TimezoneError as exc:
        print(str(exc), file=sys.stderr)
        return False
    return True


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.terminal import run_chat

    if not _timezone_ok(settings):
        return 2
    dialogue = _dialogue(settings)
    print(dialogue.kb.holdings())
    run_chat(dialogue)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.telegram_bot import resolve_webhook_secret, run_bot
    from bot.webhook import WebhookConfigError

    if not settings.telegram_token:
        print("请先设置 TELEGRAM_BOT_TOKEN。", file=sys.stderr)
        return 2
    if not _timezone_ok(settings):
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

    p = sub.add_parser("quiz", help="题库检查、培训活动、测验记录导出、证明核验与题目分析")
    quiz = p.add_subparsers(dest="action", required=True)
    q = quiz.add_parser("validate", help="检查题库文件（答案位置过于集中时警告）")
    q.add_argument("files", nargs="+")
    q = quiz.add_parser("export", help="导出测验记录（每次测验一行；xlsx 另有单位汇总）")
    q.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    q.add_argument("--since", help="只导出此日期（YYYY-MM-DD，本地时间）及之后开始的测验")
    q.add_argument("--campaign", help="只导出此活动（编号或名称）")
    q.add_argument("--summary", action="store_true", help="csv：输出单位汇总而不是逐次记录")
    q.add_argument("-o", "--output", help="输出文件；csv 缺省输出到屏幕")
    q = quiz.add_parser("verify", help="核验合格证明的验证码")
    q.add_argument("code")
    q = quiz.add_parser("revoke", help="撤销合格证明")
    q.add_argument("code")
    q.add_argument("--reason", default="管理员撤销")
    q = quiz.add_parser("stats", help="题目分析（Moodle 口径：难度指数、区分度、区分效率、内部一致性）")
    q.add_argument("--campaign", help="活动编号或名称（缺省：全部计学时测验）")
    q.add_argument("--all-attempts", action="store_true", help="计入每人的全部测验（缺省只计首次）")
    q.add_argument("--charts", help="把成绩分布图和单位合格率图写入此目录")
    q = quiz.add_parser("campaign", help="培训活动：list、open、close")
    campaign = q.add_subparsers(dest="campaign_action")
    campaign.add_parser("list", help="列出活动")
    c = campaign.add_parser("open", help="开启活动")
    c.add_argument("window", help="名称@2026-09-01..2026-09-30（本地日期，含首尾）")
    c.add_argument("settings", nargs="*", help="pass=60 questions=20 attempts=3 cooldown=10 credits=2 "
                                                "truefalse=0.2 form=fixed|random")
    c = campaign.add_parser("close", help="关闭活动")
    c.add_argument("key", help="编号或名称")
    p.set_defaults(func=cmd_quiz)

    p = sub.add_parser("doctor", help="检查配置、索引、数据库和 Telegram 令牌，列出问题")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("backup", help="备份记录库（SQLite 在线备份，机器人运行时也可执行）")
    p.add_argument("path", help="备份文件，或目录（自动以日期命名）")
    p.add_argument("--force", action="store_true", help="覆盖已有的备份文件")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("eval", help="在评测集上计算检索与回答指标（按 train/test 划分分别报告）")
    p.add_argument("files", nargs="*", help="缺省为 tests/benchmark/ 与 ../shared/eval/")
    p.add_argument("--misses", dest="verbose_misses", action="store_true", help="列出未排第一的题目")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("calibrate", help="为当前向量模型拟合排序与拒答模型（用基准的 train 划分），并重建索引")
    p.add_argument("--benchmark", default="tests/benchmark", help="基准题目目录")
    p.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The handler filters too: bm25s sets its own logger to DEBUG when imported ("Building index from tokens").
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    settings = load_settings()
    if args.command is None:
        args = parser.parse_args(["serve" if settings.telegram_token else "chat"])
    started = time.perf_counter()
    code = int(args.func(args, settings) or 0)
    logging.getLogger(__name__).info("%s took %.2fs", args.command, time.perf_counter() - started)
    return code
