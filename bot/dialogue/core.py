"""The dialogue: what the assistant says to a message, a command, a button or a document."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.answers import Answer
from bot.answers.compose import EXTRACTIVE_NOTE, ROLE_HEADINGS
from bot.answers.duties import duty_page
from bot.answers.followup import Turn
from bot.dialogue.admin import AdminDialogue
from bot.dialogue.quiz import QuizDialogue
from bot.dialogue.replies import Block, Button, Reply
from bot.knowledge import KnowledgeBase
from bot.quiz.engine import QuizService
from bot.storage import Store

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
UNITS = ["建设单位", "施工单位", "工程监理单位", "勘察设计单位", "检测机构", "主管部门/质监站", "其他"]
POSITIONS = ["项目负责人", "技术负责人", "质量员", "安全员", "施工员", "监理工程师", "检测人员", "其他"]

HELP = (
    "直接发送您的问题，我会引用法规原文并注明条款，例如：\n"
    "· 甲方让我们降低标准，施工单位能拒绝吗？\n"
    "· 塔吊装完多久要登记？\n"
    "· 质量条例第三十条\n"
    "命令：/duties 角色（某一方的法定义务）、/role（设置单位和岗位）、/about（已收录资料）、/help\n"
    "培训测验（私聊）：/quiz 测验、/practice 练习、/review 错题、/myscore 成绩与学时、/certificate 证明、"
    "/verify 核验证明、/profile 实名登记"
)
COMMANDS = [
    ("start", "开始使用"), ("help", "使用说明"), ("role", "设置单位和岗位"), ("duties", "某一方的法定义务"),
    ("quiz", "培训测验（计学时）"), ("practice", "练习（先练错题，不计学时）"), ("review", "查看上次答错的题"),
    ("myscore", "我的测验成绩与学时"), ("certificate", "下载合格证明"), ("verify", "核验合格证明"),
    ("profile", "实名登记（姓名 单位 岗位）"), ("leaderboard", "排行榜（自愿加入）"), ("about", "已收录资料与索引版本"),
]
ADMIN_COMMANDS = {"reindex", "stats", "export", "quizstats", "campaign", "revoke"}
QUIZ_COMMANDS = {"quiz", "practice", "review", "myscore", "certificate", "verify", "profile", "leaderboard"}
PRIVATE_ONLY = ADMIN_COMMANDS | QUIZ_COMMANDS  # in a group: a link to the private chat, nothing else
QUIZ_BUTTONS = {"mq", "ms", "quiz", "pf"}
# Commands whose work is slow (re-indexing, rendering files): adapters run them off the chat path.
SLOW_COMMANDS = {"reindex", "export", "quizstats", "certificate"}
FLOOD_NOTICE = "您发得太快了，请稍等几秒再继续。"
BUSY_NOTICE = "当前使用的人较多，请稍后再试。"
LLM_NOTE = "（以上由语言模型根据上面引用的条文组织，引用已核对；以原文为准。）"


@dataclass(frozen=True)
class Incoming:
    """Who is speaking."""

    user_id: int
    name: str = ""
    username: str = ""
    chat_id: int = 0
    private: bool = True  # False in groups and channels


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
        self.admin_ids = kb.settings.admin_ids
        self.upload_dir = kb.settings.upload_dir
        self.bot_username = kb.settings.bot_username  # the Telegram adapter fills it in from getMe
        self.flood = FloodGate(kb.settings.flood_burst, kb.settings.flood_window)
        # Answering a quiz takes several presses (ticks, submit): quiz buttons have a gate of their own.
        self.quiz_flood = FloodGate(2 * kb.settings.flood_burst, kb.settings.flood_window)
        self.quizzes = QuizDialogue(self)
        self.admin = AdminDialogue(self)
        self._turns: dict[int, Turn] = {}  # per chat: the last answered question and its articles
        self._turns_lock = threading.Lock()

    # entry points -------------------------------------------------------------------------------
    def on_text(self, who: Incoming, text: str) -> Reply | None:
        """A plain message: a question (or 原文). Adapters apply :meth:`gate` before calling."""
        if who.private and self.quizzes.guiding(who.user_id):  # an answer to the guided /profile
            return self.quizzes.on_guided_text(who, text)
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
        quiz_button = button.partition(":")[0] in QUIZ_BUTTONS
        return (self.quiz_flood if quiz_button else self.flood).check(who.user_id)

    def is_slow(self, who: Incoming, command: str) -> bool:
        """Whether a command does slow work (an admin command only for admins: others are refused at once)."""
        command = command.lower().lstrip("/").split("@", 1)[0]
        return command in SLOW_COMMANDS and (command not in ADMIN_COMMANDS or who.user_id in self.admin_ids)

    def on_command(self, who: Incoming, command: str, args: str = "") -> Reply:
        """Commands of this module, of the quiz conversation and of the admin conversation; quizzes and
        admin commands only in a private chat (records and exports are personal)."""
        self.store.touch_user(who.user_id, who.name, who.username)
        command = command.lower().lstrip("/").split("@", 1)[0]
        self.quizzes.profile_flow.cancel(who.user_id)  # a command leaves a half-given profile
        if command in PRIVATE_ONLY and not who.private:
            return self.private_only(command)
        if command in ADMIN_COMMANDS and who.user_id not in self.admin_ids:
            return Reply.text("抱歉，这个命令仅限管理员使用。")
        target = self.admin if command in ADMIN_COMMANDS else self.quizzes if command in QUIZ_COMMANDS else self
        handler: Callable[[Incoming, str], Reply] | None = getattr(target, f"cmd_{command}", None)
        if handler is None:
            return Reply.text(f"未知命令 /{command}。发送 /help 查看可用命令。")
        return handler(who, args.strip())

    def private_only(self, command: str = "") -> Reply:
        """The one reply in a group to a personal command: a link to the bot's private chat."""
        what = f"/{command} " if command else "这项功能"
        if not self.bot_username:
            return Reply.text(f"{what}只能在与机器人的私聊中使用，请私聊机器人。")
        link = f"https://t.me/{self.bot_username}" + ("?start=quiz" if command == "quiz" else "")
        return Reply.text(f"{what}只能在私聊中使用，以保护个人记录。", [[Button("打开私聊", url=link)]])

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
        if kind == "duty":
            role, _, page = value.rpartition(":")
            return self._duty_page(role, int(page)) if page.isdigit() else Reply.text("这个按钮已失效。")
        if kind in QUIZ_BUTTONS and self.quiz is not None:
            return self.quizzes.on_button(who, kind, value) if who.private else self.private_only()
        if kind in {"full", "rel", "up", "down"} and value.isdigit():
            asked = self.store.question(int(value))
            if asked is None:
                return Reply.text("这条记录已过期，请重新提问。")
            if kind == "full":
                article = self.kb.article(asked["top_doc"], asked["top_loc"]) if asked.get("top_doc") else None
                return self._answer_reply(article or self.kb.answer(asked["question"], full=True), None)
            if kind == "rel":
                return self._related(asked["question"])
            self.store.add_feedback(int(value), who.user_id, 1 if kind == "up" else -1)
            return Reply.text("谢谢您的反馈！" if kind == "up" else "谢谢反馈，我们会改进这个回答。")
        return Reply.text("这个按钮已失效，请重新提问。")

    def on_unsupported(self, who: Incoming, what: str) -> Reply:
        """Stickers, photos, voice …"""
        return Reply.text(f"暂不支持{what}。请用文字描述您的问题。")

    def on_document(self, who: Incoming, filename: str, size: int, fetch: Callable[[], bytes]) -> Reply:
        """An admin adds or replaces a document (in the private chat); it is checked before it joins. Files
        shared in a group are not the bot's business: an admin gets the private-chat link, others nothing."""
        if not who.private:
            return self.private_only() if who.user_id in self.admin_ids else Reply()
        if who.user_id not in self.admin_ids:
            return Reply.text("抱歉，只有管理员可以上传资料。如需提问，请直接发送文字。")
        return self.admin.on_document(who, filename, size, fetch)

    # quizzes (the adapters call these) --------------------------------------------------------
    def on_quiz_answer(self, who: Incoming, attempt_id: int, index: int, chosen: list[int],
                       seconds: float = 0.0, announce: bool = True) -> Reply | None:
        return self.quizzes.on_answer(who, attempt_id, index, chosen, seconds, announce)

    def on_quiz_timeout(self, attempt_id: int, index: int) -> Reply | None:
        return self.quizzes.on_timeout(attempt_id, index)

    # commands ----------------------------------------------------------------------------------
    def cmd_start(self, who: Incoming, args: str) -> Reply:
        payload = args.strip()  # from a t.me/<bot>?start=… link
        if payload.startswith("verify_") or payload in {"quiz", "profile"}:
            if not who.private:
                return self.private_only(payload.split("_", 1)[0])
            if payload.startswith("verify_"):
                return self.quizzes.cmd_verify(who, payload[len("verify_"):])
            return self.quizzes.cmd_quiz(who, "") if payload == "quiz" else self.quizzes.cmd_profile(who, "")
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
        return self._duty_page(role, 0)

    def _duty_page(self, role_text: str, page: int) -> Reply:
        """One page of a role's duties, with buttons for the pages before and after."""
        duties = self.kb.duties(role_text)
        if duties is None:
            return Reply.text(f"不认识的角色“{role_text}”。可选：" + "、".join(self.kb.glossary.roles))
        text, pages = duty_page(duties, page)
        page = min(max(page, 0), pages - 1)
        row = []
        if page > 0:
            row.append(Button("⬅ 上一页", f"duty:{duties.role}:{page - 1}"))
        if page < pages - 1:
            row.append(Button(f"下一页（{page + 2}/{pages}）", f"duty:{duties.role}:{page + 1}"))
        return Reply.text(text, [row] if row else [])

    # helpers -----------------------------------------------------------------------------------
    def answer(self, who: Incoming, question: str) -> Reply:
        """Answer a question, read together with the chat's previous one when it is a follow-up: the extractive
        answer at once; with an LLM configured, its checked summary follows."""
        chat = who.chat_id or who.user_id
        with self._turns_lock:
            context = self._turns.get(chat)
        answer = self.kb.answer(question, context=context, phrase=False)
        if answer.turn is not None:
            with self._turns_lock:
                self._turns[chat] = answer.turn
                if len(self._turns) > 10000:  # forget the oldest conversations
                    for stale in list(self._turns)[:1000]:
                        del self._turns[stale]
        top = answer.citations[0] if answer.citations and answer.answered else {"doc": "", "loc": ""}
        if answer.answered and answer.sections:
            top = {"doc": answer.sections[0].doc, "loc": answer.sections[0].label}
        qid = self.store.log_question(who.user_id, question, answer.answered, answer.mode, top["doc"], top["loc"],
                                      answer.text)
        reply = self._answer_reply(answer, qid)
        if answer.answered and self.kb.phrasing and not answer.context:  # follow-ups are read with the last one
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
        blocks = [Block(f"（{answer.context}）")] if answer.context else []
        if answer.mode == "llm" or not answer.sections:
            blocks = [Block(answer.text)]
        else:
            for section in answer.sections:
                chapter = f"（{section.chapter_name}）" if section.chapter_name else ""
                if section.role == "main":
                    blocks.append(Block(section.quote, "quote", tuple(section.terms)))
                    blocks.append(Block(f"——{section.citation}{chapter}", "cite"))
                else:
                    blocks.append(Block(f"{ROLE_HEADINGS.get(section.role, '相关')}·{section.citation}", "heading"))
                    blocks.append(Block(section.quote, "quote", tuple(section.terms)))
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


def _grid(kind: str, options: list[str], per_row: int = 2) -> list[list[Button]]:
    buttons = [Button(o, f"{kind}:{o}") for o in options]
    return [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
