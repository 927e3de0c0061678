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
from bot.answers.duties import render_duties
from bot.dialogue.replies import Attachment, Block, Button, Reply
from bot.ingest import IngestError, load_document
from bot.knowledge import KnowledgeBase
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
    ("about", "已收录资料与索引版本"),
]
ADMIN_COMMANDS = {"reindex", "stats", "export"}


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

    def __init__(self, kb: KnowledgeBase, store: Store) -> None:
        self.kb = kb
        self.store = store
        self.admin_ids = kb.settings.admin_ids
        self.upload_dir = kb.settings.upload_dir
        self.flood = FloodGate(kb.settings.flood_burst, kb.settings.flood_window)
        self._reindex_lock = threading.Lock()

    # entry points -------------------------------------------------------------------------------
    def on_text(self, who: Incoming, text: str) -> Reply | None:
        """A plain message: a question (or 原文). None means: say nothing (flooding)."""
        gate = self.flood.check(who.user_id)
        if gate == "drop":
            return None
        if gate == "warn":
            return Reply.text("您发得太快了，请稍等几秒再继续提问。")
        self.store.touch_user(who.user_id, who.name, who.username)
        question = " ".join(text.split())
        if not question:
            return Reply.text("请输入您的问题，例如“塔吊装完多久要登记？”")
        if len(question) > MAX_QUESTION_CHARS:
            return Reply.text(
                f"问题太长了（{len(question)} 字）。请把问题精简到 {MAX_QUESTION_CHARS} 字以内，一次问一件事。"
            )
        return self.answer(who, question)

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
        return Reply([Block("提问记录见附件（CSV）。")],
                     attachment=Attachment("questions.csv", self.store.export_questions_csv(), "提问记录"))

    # helpers -----------------------------------------------------------------------------------
    def answer(self, who: Incoming, question: str) -> Reply:
        answer = self.kb.answer(question)
        top = answer.citations[0] if answer.citations and answer.answered else {"doc": "", "loc": ""}
        qid = self.store.log_question(who.user_id, question, answer.answered, answer.mode, top["doc"], top["loc"],
                                      answer.text)
        return self._answer_reply(answer, qid)

    def _answer_reply(self, answer: Answer, qid: int | None) -> Reply:
        if not answer.answered:
            return Reply.text(answer.text)
        if answer.mode == "llm" or not answer.sections:
            blocks = [Block(answer.text)]
        else:
            blocks = []
            for section in answer.sections:
                heading = {"main": "依据", "also": "另见", "local": "广东省规定", "national": "国家规定",
                           "penalty": "违反的后果", "duty": "对应的义务条款"}.get(section.role, "相关")
                chapter = f"（{section.chapter.split(' / ')[-1]}）" if section.chapter else ""
                blocks.append(Block(f"{heading}：{section.citation}{chapter}", "heading"))
                blocks.append(Block(section.quote, "quote", tuple(section.terms)))
                if section.role == "main" and section.text and section.text.strip() != section.quote:
                    blocks.append(Block(f"条文：{section.text}"))
            blocks.append(Block("（以上为法规原文摘录）"))
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
            paths = list(self.kb.settings.knowledge_dirs)
            if self.upload_dir.exists() and not any(_inside(self.upload_dir, p) for p in paths):
                paths.append(self.upload_dir)
            report = self.kb.reindex(paths)
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


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False
