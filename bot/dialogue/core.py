"""The dialogue: what the assistant says to a message, a command, a button or a document."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.answers import Answer
from bot.answers.compose import EXTRACTIVE_NOTE, ROLE_HEADINGS
from bot.answers.duties import render_duties
from bot.dialogue.replies import Attachment, Block, Button, PollSpec, Reply
from bot.ingest import IngestError, load_document
from bot.knowledge import KnowledgeBase
from bot.quiz.engine import QUIZ_NAME, QuizError, QuizService, Step
from bot.quiz.reports import certificate_pdf, export_rows, leaderboard, question_stats, score_chart_png, to_xlsx
from bot.reindex_process import reindex_in_child
from bot.retrieval.indexer import IndexBusy
from bot.storage import Store

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_SUFFIXES = {".md", ".txt", ".docx", ".pdf"}
UNITS = ["建设单位", "施工单位", "工程监理单位", "勘察设计单位", "检测机构", "主管部门/质监站", "其他"]
POSITIONS = ["项目负责人", "技术负责人", "质量员", "安全员", "施工员", "监理工程师", "检测人员", "其他"]

HELP = (
    "直接发送您的问题，我会引用法规原文并注明条款，例如：\n"
    "· 甲方让我们降低标准，施工单位能拒绝吗？\n"
    "· 塔吊装完多久要登记？\n"
    "· 质量条例第三十条\n"
    "命令：/duties 角色（某一方的法定义务）、/role（设置单位和岗位）、/about（已收录资料）、/help"
)
COMMANDS = [
    ("start", "开始使用"), ("help", "使用说明"), ("role", "设置单位和岗位"), ("duties", "某一方的法定义务"),
    ("quiz", "质量月培训测验"), ("myscore", "我的测验成绩与学时"), ("leaderboard", "测验排行榜"),
    ("certificate", "下载合格证明"), ("about", "已收录资料与索引版本"),
]
ADMIN_COMMANDS = {"reindex", "stats", "export", "quizstats"}
# Commands whose work is slow (re-indexing, rendering files): adapters run them off the chat path.
SLOW_COMMANDS = {"reindex", "export", "quizstats", "certificate"}
QUIZ_COMMANDS = {"quiz"}
FLOOD_NOTICE = "您发得太快了，请稍等几秒再继续。"
LLM_NOTE = "（以上由语言模型根据上面引用的条文组织，引用已核对；以原文为准。）"
BUSY_NOTICE = "当前使用的人较多，请稍后再试。"


@dataclass(frozen=True)
class Incoming:
    """Who is speaking."""

    user_id: int
    name: str = ""
    username: str = ""
    chat_id: int = 0


class FloodGate:
    """At most ``burst`` messages per user in ``window`` seconds; the first one over gets one notice."""

    def __init__(self, burst: int = 8, window: float = 10.0) -> None:
        self.burst, self.window = burst, window
        self._seen: dict[int, deque[float]] = {}
        self._warned: set[int] = set()
        self._lock = threading.Lock()

    def check(self, user_id: int) -> str:
        """'ok', 'warn' (first message over the limit) or 'drop'."""
        at = time.monotonic()
        with self._lock:
            times = self._seen.setdefault(user_id, deque())
            while times and at - times[0] > self.window:
                times.popleft()
            if len(times) < self.burst:
                times.append(at)
                self._warned.discard(user_id)
                return "ok"
            if user_id in self._warned:
                return "drop"
            self._warned.add(user_id)
            return "warn"


class Dialogue:
    """Transport-independent conversation logic. Methods are blocking; adapters run them off their loop."""

    def __init__(self, kb: KnowledgeBase, store: Store, quiz: QuizService | None = None) -> None:
        self.kb = kb
        self.store = store
        self.quiz = quiz
        self._ticked: dict[tuple[int, int], set[int]] = {}
        self.admin_ids = kb.settings.admin_ids
        self.upload_dir = kb.settings.upload_dir
        self.flood = FloodGate(kb.settings.flood_burst, kb.settings.flood_window)
        # Ticking a multiple-choice answer takes several presses: quiz buttons have a gate of their own.
        self.quiz_flood = FloodGate(2 * kb.settings.flood_burst, kb.settings.flood_window)
        self._reindex_lock = threading.Lock()

    # entry points -------------------------------------------------------------------------------
    def on_text(self, who: Incoming, text: str) -> Reply | None:
        """A plain message: a question (or 原文). Adapters apply :meth:`gate` before calling."""
        self.store.touch_user(who.user_id, who.name, who.username)
        question = " ".join(text.split())
        if not question:
            return Reply.text("请输入您的问题，例如“塔吊装完多久要登记？”")
        if len(question) > MAX_QUESTION_CHARS:
            return Reply.text(
                f"问题太长了（{len(question)} 字）。请把问题精简到 {MAX_QUESTION_CHARS} 字以内，一次问一件事。"
            )
        return self.answer(who, question)

    def gate(self, who: Incoming, button: str = "") -> str:
        """The flood gate for a message, command or button: 'ok', 'warn' (first one over) or 'drop'."""
        quiz_button = button.startswith(("mq:", "ms:"))
        return (self.quiz_flood if quiz_button else self.flood).check(who.user_id)

    def is_slow(self, who: Incoming, command: str) -> bool:
        """Whether a command does slow work (an admin command only for admins: others are refused at once)."""
        command = command.lower().lstrip("/").split("@", 1)[0]
        return command in SLOW_COMMANDS and (command not in ADMIN_COMMANDS or who.user_id in self.admin_ids)

    def on_command(self, who: Incoming, command: str, args: str = "") -> Reply:
        self.store.touch_user(who.user_id, who.name, who.username)
        command = command.lower().lstrip("/").split("@", 1)[0]
        if command in ADMIN_COMMANDS and who.user_id not in self.admin_ids:
            return Reply.text("抱歉，这个命令仅限管理员使用。")
        handler: Callable[[Incoming, str], Reply] | None = getattr(self, f"cmd_{command}", None)
        if handler is None:
            return Reply.text(f"未知命令 /{command}。发送 /help 查看可用命令。")
        return handler(who, args.strip())

    def on_button(self, who: Incoming, data: str) -> Reply:
        kind, _, value = data.partition(":")
        if kind == "unit" and value in UNITS:
            self.store.touch_user(who.user_id, who.name, who.username)
            self.store.set_profile(who.user_id, unit=value)
            return Reply([Block(f"单位类型：{value}。请选择您的岗位：")], _grid("pos", POSITIONS), edit=True)
        if kind == "pos" and value in POSITIONS:
            self.store.set_profile(who.user_id, role=value)
            user = self.store.user(who.user_id) or {}
            done = f"已记住：{user.get('unit', '')}·{value}。现在可以直接提问了。\n\n{HELP}"
            return Reply([Block(done)], edit=True)
        if kind in {"mq", "ms"} and self.quiz is not None:
            return self._multiple_choice(who, kind, value)
        if kind in {"full", "rel", "up", "down"} and value.isdigit():
            asked = self.store.question(int(value))
            if asked is None:
                return Reply.text("这条记录已过期，请重新提问。")
            if kind == "full":
                return self._answer_reply(self.kb.answer(asked["question"], full=True), None)
            if kind == "rel":
                return self._related(asked["question"])
            self.store.add_feedback(int(value), who.user_id, 1 if kind == "up" else -1)
            return Reply.text("谢谢您的反馈！" if kind == "up" else "谢谢反馈，我们会改进这个回答。")
        return Reply.text("这个按钮已失效，请重新提问。")

    def on_unsupported(self, who: Incoming, what: str) -> Reply:
        """Stickers, photos, voice …"""
        return Reply.text(f"暂不支持{what}。请用文字描述您的问题。")

    def on_document(self, who: Incoming, filename: str, size: int, fetch: Callable[[], bytes]) -> Reply:
        """An admin adds or replaces a document; it is checked before it joins the knowledge."""
        if who.user_id not in self.admin_ids:
            return Reply.text("抱歉，只有管理员可以上传资料。如需提问，请直接发送文字。")
        name = Path(filename or "").name
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            return Reply.text(f"不支持的文件类型“{suffix or '无扩展名'}”。请上传 .md、.txt、.docx 或 .pdf 文件。")
        if size > MAX_UPLOAD_BYTES:
            return Reply.text("文件超过 20 MB，无法接收。")
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        staging = self.upload_dir / f".incoming-{who.user_id}-{name}"
        try:
            staging.write_bytes(fetch())
            document = load_document(staging)
        except IngestError as exc:
            staging.unlink(missing_ok=True)
            return Reply.text(f"文件“{name}”无法使用：{exc}。索引没有改变。")
        except Exception:
            staging.unlink(missing_ok=True)
            log.exception("upload failed")
            return Reply.text(f"接收文件“{name}”时出错，索引没有改变。")
        target = self.upload_dir / name
        replaced = target.exists()
        staging.replace(target)
        reply = self._reindex()
        verb = "已替换" if replaced else "已加入"
        reply.blocks.insert(0, Block(f"{verb}《{document.title}》（{len(document.chunks)} 个条文块）。"))
        return reply

    # commands ----------------------------------------------------------------------------------
    def cmd_start(self, who: Incoming, args: str) -> Reply:
        user = self.store.user(who.user_id) or {}
        name = f"，{who.name}" if who.name else ""
        greeting = f"您好{name}！我是质量通，回答建设工程质量法规问题，并引用原文条款。"
        if user.get("unit") and user.get("role"):
            return Reply.text(f"{greeting}\n您的身份：{user['unit']}·{user['role']}。\n\n{HELP}")
        return Reply([Block(greeting), Block("请先选择您的单位类型：")], _grid("unit", UNITS))

    def cmd_role(self, who: Incoming, args: str) -> Reply:
        user = self.store.user(who.user_id) or {}
        current = f"当前：{user.get('unit') or '未设置'}·{user.get('role') or '未设置'}。" if user else ""
        return Reply([Block(f"{current}请选择您的单位类型：")], _grid("unit", UNITS))

    def cmd_help(self, who: Incoming, args: str) -> Reply:
        return Reply.text(HELP)

    def cmd_about(self, who: Incoming, args: str) -> Reply:
        snapshot = self.kb.retriever().snapshot
        docs = snapshot.documents
        created = snapshot.manifest.get("created_at", "")
        lines = [f"索引版本 {snapshot.version}，建立于 {created}，共 {len(docs)} 份资料："]
        lines.extend(f"· {d['title']}" + (f"（{d['date']}）" if d.get("date") else "") for d in docs)
        return Reply.text("\n".join(lines))

    def cmd_duties(self, who: Incoming, args: str) -> Reply:
        role = args or (self.store.user(who.user_id) or {}).get("unit", "")
        if not role or role in {"其他", "主管部门/质监站"}:
            return Reply.text("请写明角色，例如 /duties 施工单位、/duties 监理、/duties 甲方、/duties 检测机构。")
        if role == "勘察设计单位":
            role = "设计单位"
        duties = self.kb.duties(role)
        if duties is None:
            return Reply.text(f"不认识的角色“{role}”。可选：" + "、".join(self.kb.glossary.roles))
        return Reply.text(render_duties(duties, limit=40))

    def cmd_reindex(self, who: Incoming, args: str) -> Reply:
        return self._reindex()

    def cmd_stats(self, who: Incoming, args: str) -> Reply:
        stats = self.store.stats()
        return Reply.text(
            f"用户 {stats['users']} 人；提问 {stats['questions']} 次，其中未找到答案 {stats['unanswered']} 次；"
            f"反馈 👍 {stats['feedback_up']} / 👎 {stats['feedback_down']}。"
        )

    def cmd_export(self, who: Incoming, args: str) -> Reply:
        attachments = [Attachment("questions.csv", self.store.export_questions_csv(), "提问记录")]
        if self.quiz is not None:
            rows = export_rows(self.store)
            attachments.insert(0, Attachment("quiz_attempts.xlsx", to_xlsx(rows), f"测验记录（{len(rows)} 次）"))
        return Reply([Block("导出的记录见附件。")], attachments=attachments)

    # quizzes -----------------------------------------------------------------------------------
    def cmd_quiz(self, who: Incoming, args: str) -> Reply:
        if self.quiz is None:
            return Reply.text("本服务未启用测验。")
        user = self.store.user(who.user_id) or {}
        resumed = self.quiz.in_progress(who.user_id) is not None
        try:
            step = self.quiz.start(who.user_id, role=user.get("unit", ""), topic=args)
        except QuizError as exc:
            return Reply.text(str(exc))
        settings = self.kb.settings
        intro = ("继续您未完成的测验。" if resumed else
                 f"{QUIZ_NAME}：共 {step.total} 题，每题 {settings.quiz_open_period} 秒，"
                 f"{settings.quiz_pass_mark} 分合格，合格计 {settings.quiz_credits:g} 学时。")
        return Reply([Block(intro)], poll=self._poll(step))

    def on_quiz_answer(self, who: Incoming, attempt_id: int, index: int, chosen: list[int],
                       seconds: float = 0.0, announce: bool = True) -> Reply | None:
        """An answer to a quiz question; None when it was already answered (a duplicate or late update).

        ``announce=False`` leaves out the verdict, for front ends whose quiz poll shows it already.
        """
        if self.quiz is None:
            return None
        outcome = self.quiz.answer(attempt_id, index, chosen, seconds)
        if not outcome.recorded:
            return None
        self._ticked.pop((attempt_id, index), None)
        reply = self._after_answer(outcome, index, timed_out=False)
        if not announce and outcome.next is not None:
            reply.blocks = []
        return reply

    def on_quiz_timeout(self, attempt_id: int, index: int) -> Reply | None:
        """The question's time ran out: it counts as wrong and the next one follows."""
        if self.quiz is None:
            return None
        outcome = self.quiz.answer(attempt_id, index, [], float(self.kb.settings.quiz_open_period))
        if not outcome.recorded:
            return None
        return self._after_answer(outcome, index, timed_out=True)

    def _after_answer(self, outcome, index: int, timed_out: bool) -> Reply:
        question = outcome.question
        letters = "、".join(chr(65 + i) for i in question.answer) if question else ""
        if timed_out:
            verdict = f"⏰ 第 {index + 1} 题超时。正确答案：{letters}"
        elif outcome.correct:
            verdict = f"✅ 第 {index + 1} 题回答正确。"
        else:
            verdict = f"❌ 第 {index + 1} 题答错了，正确答案：{letters}"
        blocks = [Block(verdict)]
        if question and (timed_out or not outcome.correct):
            blocks.append(Block(f"{question.explanation}（{question.citation}）"))
        if outcome.next is not None:
            return Reply(blocks, poll=self._poll(outcome.next))
        attempt = outcome.finished or {}
        passed = bool(attempt.get("passed"))
        summary = (f"测验结束：答对 {attempt.get('correct')}/{attempt.get('total')} 题，得分 {attempt.get('score')}，"
                   + (f"合格，获得 {attempt.get('credits', 0):g} 学时。" if passed else "未合格。"))
        blocks.append(Block(summary))
        if passed:
            blocks.append(Block(f"合格证明验证码：{attempt['cert_code']}。发送 /certificate 下载证明。"))
        return Reply(blocks)

    def _poll(self, step: Step, selected: tuple[int, ...] = ()) -> PollSpec:
        q = step.question
        if self.quiz is not None:
            self.quiz.mark_asked(step.attempt_id, step.index)
        return PollSpec(step.attempt_id, step.index, step.total, f"（{step.index + 1}/{step.total}）{q.question}",
                        q.options, q.answer, q.type == "multiple", q.explanation,
                        self.kb.settings.quiz_open_period, selected)

    def _multiple_choice(self, who: Incoming, kind: str, value: str) -> Reply:
        parts = value.split(":")
        if not all(p.isdigit() for p in parts) or len(parts) < 2:
            return Reply.text("这个按钮已失效。")
        attempt_id, index = int(parts[0]), int(parts[1])
        step = self.quiz.in_progress(who.user_id) if self.quiz else None
        if step is None or (step.attempt_id, step.index) != (attempt_id, index):
            return Reply.text("这道题已经作答或已超时。")
        ticked = self._ticked.setdefault((attempt_id, index), set())
        if kind == "mq" and len(parts) == 3:
            ticked.symmetric_difference_update({int(parts[2])})
            poll = self._poll(step, tuple(sorted(ticked)))
            return Reply([Block(poll.question + "（多选，选好后提交）")], poll.toggle_buttons(), edit=True)
        if not ticked:
            return Reply.text("请至少选择一项再提交。")
        return self.on_quiz_answer(who, attempt_id, index, sorted(ticked)) or Reply.text("这道题已经作答。")

    def cmd_myscore(self, who: Incoming, args: str) -> Reply:
        if self.quiz is None:
            return Reply.text("本服务未启用测验。")
        history = self.quiz.history(who.user_id)
        if not history:
            return Reply.text("您还没有完成过测验。发送 /quiz 开始。")
        lines = [f"您的测验记录（共 {len(history)} 次）："]
        for row in history:
            mark = "合格" if row["passed"] else "未合格"
            code = f"，验证码 {row['cert_code']}" if row["cert_code"] else ""
            lines.append(f"· {row['finished_at'][:16].replace('T', ' ')}  {row['score']} 分，{mark}{code}")
        lines.append(f"累计继续教育学时：{sum(r['credits'] for r in history):g}")
        return Reply.text("\n".join(lines))

    def cmd_leaderboard(self, who: Incoming, args: str) -> Reply:
        if args in {"off", "退出", "不参加"}:
            self.store.set_profile(who.user_id, leaderboard=0)
            return Reply.text("已将您移出排行榜。发送 /leaderboard on 可重新加入。")
        if args in {"on", "加入", "参加"}:
            self.store.set_profile(who.user_id, leaderboard=1)
            return Reply.text("已将您加入排行榜。")
        people, units = leaderboard(self.store)
        if not people:
            return Reply.text("还没有人完成测验。")
        lines = ["个人排行："]
        for n, p in enumerate(people, start=1):
            unit = p["unit"] or "未填单位"
            lines.append(f"{n}. {p['name'] or p['id']}（{unit}）最高 {p['best']} 分，{p['credits']:g} 学时")
        if units:
            lines.append("单位排行（平均最高分）：")
            lines.extend(f"{n}. {u['unit']}：{u['average']} 分，{u['people']} 人" for n, u in enumerate(units, start=1))
        lines.append("不想出现在排行榜上？发送 /leaderboard off")
        return Reply.text("\n".join(lines))

    def cmd_certificate(self, who: Incoming, args: str) -> Reply:
        passed = [r for r in (self.quiz.history(who.user_id) if self.quiz else []) if r["passed"]]
        if not passed:
            return Reply.text("您还没有合格的测验记录。")
        attempt = self.quiz.attempt_by_code(passed[-1]["cert_code"])
        return Reply([Block(f"合格证明（验证码 {attempt['cert_code']}）见附件。")],
                     attachments=[Attachment(f"certificate-{attempt['cert_code']}.pdf", certificate_pdf(attempt))])

    def cmd_quizstats(self, who: Incoming, args: str) -> Reply:
        if self.quiz is None:
            return Reply.text("本服务未启用测验。")
        stats = question_stats(self.store, self.quiz.by_id)
        rows = export_rows(self.store)
        finished = [r for r in rows if r["status"] == "finished"]
        lines = [f"已完成测验 {len(finished)} 次，合格 {sum(r['passed'] for r in finished)} 次。"]
        hardest = sorted(stats, key=lambda s: s["facility"])[:10]
        if hardest:
            lines.append("最难的题（难度指数＝答对比例；区分度需 10 次以上作答）：")
            lines.extend(f"· {s['question_id']} 答对 {s['facility']:.0%}（{s['answers']} 次）"
                         + (f"，区分度 {s['discrimination']}" if s["discrimination"] is not None else "")
                         for s in hardest)
        chart = Attachment("scores.png", score_chart_png([r["score"] for r in finished]), "成绩分布")
        return Reply.text("\n".join(lines)) if not finished else Reply([Block("\n".join(lines))], attachments=[chart])

    # helpers -----------------------------------------------------------------------------------
    def answer(self, who: Incoming, question: str) -> Reply:
        """The extractive answer at once; with an LLM configured, its checked summary as a follow-up."""
        answer = self.kb.answer(question, phrase=False)
        top = answer.citations[0] if answer.citations and answer.answered else {"doc": "", "loc": ""}
        qid = self.store.log_question(who.user_id, question, answer.answered, answer.mode, top["doc"], top["loc"],
                                      answer.text)
        reply = self._answer_reply(answer, qid)
        if answer.answered and self.kb.phrasing:
            reply.followup = lambda: self._summary(answer, qid)
        return reply

    def _summary(self, answer: Answer, qid: int) -> Reply | None:
        summary = self.kb.summary(answer)
        if summary is None:
            return None
        self.store.set_answer(qid, "llm", f"{summary}\n\n{answer.text}")
        return Reply([Block(summary), Block(LLM_NOTE)])

    def _answer_reply(self, answer: Answer, qid: int | None) -> Reply:
        if not answer.answered:
            return Reply.text(answer.text)
        if answer.mode == "llm" or not answer.sections:
            blocks = [Block(answer.text)]
        else:
            blocks = []
            for section in answer.sections:
                heading = ROLE_HEADINGS.get(section.role, "相关")
                chapter = f"（{section.chapter.split(' / ')[-1]}）" if section.chapter else ""
                blocks.append(Block(f"{heading}：{section.citation}{chapter}", "heading"))
                blocks.append(Block(section.quote, "quote", tuple(section.terms)))
                if section.role == "main" and section.text and section.text.strip() != section.quote:
                    blocks.append(Block(f"条文：{section.text}"))
            blocks.append(Block(EXTRACTIVE_NOTE))
        buttons = []
        if qid is not None:
            buttons = [[Button("📖 原文", f"full:{qid}"), Button("相关条文", f"rel:{qid}")],
                       [Button("👍", f"up:{qid}"), Button("👎", f"down:{qid}")]]
        return Reply(blocks, buttons)

    def _related(self, question: str) -> Reply:
        hits = self.kb.retriever().search(question, k=8)
        lines = ["相关条文："] + [f"{n}. 《{h.doc}》{h.label}" for n, h in enumerate(hits, start=1)]
        return Reply.text("\n".join(lines))

    def _reindex(self) -> Reply:
        if not self._reindex_lock.acquire(blocking=False):
            return Reply.text("已有重建索引任务在进行，请稍后再试。")
        try:
            report = reindex_in_child(self.kb.settings)  # the bot keeps the CPU for questions meanwhile
            self.kb.refresh()
        except IndexBusy:
            return Reply.text("已有重建索引任务在进行，请稍后再试。")
        except Exception:
            log.exception("re-index failed")
            return Reply.text("重建索引失败，旧索引继续使用。详情见服务器日志。")
        finally:
            self._reindex_lock.release()
        lines = [f"索引已更新为 {report.version}：{report.documents} 份资料，{report.chunks} 个条文块，"
                 f"用时 {report.seconds:.1f} 秒。"]
        lines.extend(f"已跳过 {Path(p).name}：{reason}" for p, reason in report.errors[:10])
        return Reply.text("\n".join(lines))


def _grid(kind: str, options: list[str], per_row: int = 2) -> list[list[Button]]:
    buttons = [Button(o, f"{kind}:{o}") for o in options]
    return [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]

