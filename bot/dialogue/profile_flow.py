"""The guided way to give a profile, beside ``/profile 姓名 单位 [岗位] [注册号]``: consent first, then one
question per message, then a summary to confirm. Nothing is stored until the person confirms."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.dialogue.replies import Block, Button, Reply
from bot.quiz import profiles

TIMEOUT = 15 * 60  # an unfinished flow is forgotten after this many seconds
STEPS: list[tuple[str, str, Callable[[str], str]]] = [
    ("real_name", "请发送您的真实姓名（用于学时记录和合格证明）：", profiles.check_name),
    ("employer", "请发送您的工作单位全称：", profiles.check_employer),
    ("position", "请发送您的岗位（如 质量员、施工员、监理工程师）：", profiles.check_position),
    ("reg_no", "如有注册执业证书，请发送注册号；没有请点“跳过”：", profiles.check_reg_no),
]


@dataclass
class _Draft:
    started: float
    step: int = 0
    values: dict[str, str] = field(default_factory=dict)


class ProfileFlow:
    """In-memory drafts per user (the profile itself goes to the database only when confirmed)."""

    def __init__(self, save: Callable[[int, str, str, str, str], object]) -> None:
        self._save = save
        self._drafts: dict[int, _Draft] = {}
        self._lock = threading.Lock()

    def active(self, user_id: int) -> bool:
        with self._lock:
            draft = self._drafts.get(user_id)
            if draft and time.monotonic() - draft.started > TIMEOUT:
                del self._drafts[user_id]
                return False
            return draft is not None

    def cancel(self, user_id: int) -> None:
        with self._lock:
            self._drafts.pop(user_id, None)

    def start(self, user_id: int) -> Reply:
        """After the person agreed to the use CONSENT describes."""
        with self._lock:
            self._drafts[user_id] = _Draft(time.monotonic())
        return self._ask(0)

    def on_text(self, user_id: int, text: str) -> Reply:
        with self._lock:
            draft = self._drafts.get(user_id)
        if draft is None:
            return Reply.text("登记已超时，请重新发送 /quiz 或 /profile。")
        key, _, check = STEPS[draft.step]
        try:
            draft.values[key] = check(text)
        except profiles.ProfileError as exc:
            return Reply.text(f"{exc}\n{STEPS[draft.step][1]}", self._buttons(draft.step))
        return self._next(draft)

    def on_button(self, user_id: int, value: str) -> Reply:
        with self._lock:
            draft = self._drafts.get(user_id)
        if draft is None:
            return Reply.text("登记已超时，请重新发送 /quiz 或 /profile。")
        if value == "skip" and STEPS[draft.step][0] == "reg_no":
            draft.values["reg_no"] = ""
            return self._next(draft)
        if value == "confirm" and draft.step >= len(STEPS):
            self.cancel(user_id)
            v = draft.values
            self._save(user_id, v["real_name"], v["employer"], v["position"], v.get("reg_no", ""))
            reg = f"，注册号 {v['reg_no']}" if v.get("reg_no") else ""
            return Reply.text(f"已登记：{v['real_name']}，{v['employer']}，{v['position'] or '未填岗位'}{reg}。\n"
                              "以后每次测验都会记下当时的这些信息，之后修改不影响已有记录。发送 /quiz 开始测验。")
        if value == "restart":
            return self.start(user_id)
        return Reply.text("这个按钮已失效，请重新发送 /profile。")

    def _next(self, draft: _Draft) -> Reply:
        draft.step += 1
        if draft.step < len(STEPS):
            return self._ask(draft.step)
        v = draft.values
        summary = (f"请核对：\n姓名：{v['real_name']}\n工作单位：{v['employer']}\n岗位：{v['position'] or '—'}\n"
                   f"注册号：{v.get('reg_no') or '—'}")
        return Reply([Block(summary)], [[Button("确认登记", "pf:confirm"), Button("重新填写", "pf:restart")]])

    def _ask(self, step: int) -> Reply:
        return Reply.text(STEPS[step][1], self._buttons(step))

    @staticmethod
    def _buttons(step: int) -> list[list[Button]]:
        return [[Button("跳过", "pf:skip")]] if STEPS[step][0] == "reg_no" else []
