"""The terminal chat: the same dialogue as Telegram, rendered as plain text."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.dialogue import Dialogue, Incoming, Reply

WELCOME = (
    "质量通：建设工程质量法规问答。直接输入问题，例如“塔吊装完多久要登记？”\n"
    "输入“原文”看上一个回答所依据条文的全文，“相关”看相关条文；/help 帮助，/quit 退出。"
)
TERMINAL_USER = Incoming(user_id=0, name="终端用户")


def _render(reply: Reply | None) -> str:
    if reply is None:
        return ""
    text = reply.plain()
    options = [b.text for row in reply.buttons for b in row
               if b.data.split(":", 1)[0] in {"unit", "pos", "pf", "quiz", "duty"}]
    if options:
        text += "\n可选：" + "、".join(options) + "（直接输入选项）"
    for attachment in reply.attachments:
        text += f"\n[附件 {attachment.filename}，{len(attachment.data)} 字节]"
    if reply.poll is not None:
        poll = reply.poll
        kind = "多选，输入所有正确选项的字母，如 AC" if poll.multiple else "输入选项字母"
        text += f"\n{poll.question}\n" + "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(poll.options))
        text += f"\n（{kind}）"
    return text


def run_chat(dialogue: Dialogue, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read lines until EOF or /quit; each line is a question, a command or a button's label."""
    interactive = stdin.isatty()
    print(WELCOME, file=stdout)
    who = TERMINAL_USER
    last_buttons: dict[str, str] = {}
    pending = None  # the quiz question waiting for an answer
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
        aliases = {"原文": "📖 原文", "相关": "相关条文"}
        label = aliases.get(text, text)
        letters = [ord(c) - 65 for c in text.upper() if c.isalpha()]
        if pending is not None and letters and all(0 <= i < len(pending.options) for i in letters):
            reply = dialogue.on_quiz_answer(who, pending.attempt_id, pending.index, letters)
        elif label in last_buttons:
            reply = dialogue.on_button(who, last_buttons[label])
        elif text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            reply = dialogue.on_command(who, command, args)
        else:
            reply = dialogue.on_text(who, text)
        if reply is not None and reply.buttons:
            last_buttons = {b.text: b.data for row in reply.buttons for b in row}
        if reply is not None:
            pending = reply.poll
        print(f"\n质量通> {_render(reply)}", file=stdout, flush=True)
        followup = reply.followup() if reply is not None and reply.followup is not None else None
        if followup is not None:
            print(f"\n质量通> {_render(followup)}", file=stdout, flush=True)
