"""A stand-in Telegram Bot API server on 127.0.0.1 for tests and benchmarks.

It speaks the HTTP side of the Bot API that python-telegram-bot uses: getMe, getUpdates (long polling),
getWebhookInfo, sendMessage, editMessageText, answerCallbackQuery, sendChatAction, setMyCommands, setWebhook,
deleteWebhook, getFile and file download, sendDocument, sendPoll, stopPoll. Tests push updates and read what
the bot sent.

It is as strict as Telegram for the limits the bot meets (``tests/bot_api_limits.py``): message length after
HTML parsing, well-formed HTML, poll sizes, open_period, callback data, and about one message per second in a
chat (429 with retry_after). Rejected calls are kept in ``rejected``, not among the messages sent. Tests can
also make the next calls of a method fail (``fail_next``) to exercise the bot's retries.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.bot_api_limits import NEW_MESSAGE_METHODS, ChatFloodControl, Rejected, validate

TOKEN = "123456:TEST-TOKEN"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "质量通", "username": "zhiliangtong_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}


@dataclass
class Sent:
    """One call the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    result: dict = field(default_factory=dict)  # what the stand-in answered (e.g. the poll with its id)

    @property
    def chat_id(self) -> int:
        return int(self.params.get("chat_id", 0))

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[list[dict]]:
        markup = self.params.get("reply_markup") or {}
        return markup.get("inline_keyboard", []) if isinstance(markup, dict) else []


class FakeBotApi:
    """Start with ``start()``; ``base_url``/``base_file_url`` go to ApplicationBuilder."""

    def __init__(self, flood_control: ChatFloodControl | None = None) -> None:
        self.flood_control = flood_control or ChatFloodControl()
        self.rejected: list[tuple[Sent, Rejected]] = []
        self._faults: dict[str, list[Rejected]] = {}
        self._updates: list[dict] = []
        self._redeliveries: list[dict] = []
        self._by_chat: dict[int, list[Sent]] = {}
        self._questions_by_chat: dict[int, list[Sent]] = {}  # quiz polls and multiple-choice messages
        self.edits: dict[int, int] = {}  # editMessageText calls per chat
        self._poll_ids = itertools.count(1)
        self._last_id = 0
        self._cond = threading.Condition()
        self.sent: list[Sent] = []
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        ThreadingHTTPServer.request_queue_size = 512  # the listen backlog: many bot connections at once
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.pushed_at: dict[int, float] = {}

    # lifecycle
    def start(self) -> FakeBotApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/file/bot"

    # what tests do
    def push(self, update: dict, redeliver: bool = False) -> int:
        """Queue an update; its update_id is assigned unless given.

        ``redeliver`` hands it out once more even though the bot already confirmed it, as Telegram does
        when a confirmation is lost.
        """
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", next(self._ids))
            self._last_id = max(self._last_id, update["update_id"])
            self._ids = itertools.count(self._last_id + 1)
            (self._redeliveries if redeliver else self._updates).append(update)
            self.pushed_at[update["update_id"]] = time.perf_counter()
            self._cond.notify_all()
            return update["update_id"]

    def message(self, user_id: int, text: str | None = None, chat_id: int | None = None, first_name: str = "",
                **extra: Any) -> dict:
        """A message from ``user_id``: in their private chat, or in the group ``chat_id`` (negative id)."""
        user = {"id": user_id, "is_bot": False, "first_name": first_name or f"用户{user_id}"}
        chat = ({"id": user_id, "type": "private", "first_name": user["first_name"]} if chat_id is None
                else {"id": chat_id, "type": "group", "title": "项目部群"})
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat, "from": user}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(" ", 1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        message.update(extra)
        return {"message": message}

    def callback(self, user_id: int, data: str, message_id: int = 1) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": f"用户{user_id}"}
        message = {"message_id": message_id, "date": int(time.time()),
                   "chat": {"id": user_id, "type": "private"}, "from": BOT_USER, "text": "…"}
        return {"callback_query": {"id": str(next(self._ids)), "from": user, "chat_instance": "1",
                                   "data": data, "message": message}}

    def document(self, user_id: int, filename: str, data: bytes, mime: str = "text/plain") -> dict:
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = data
        doc = {"file_id": file_id, "file_unique_id": file_id, "file_name": filename, "mime_type": mime,
               "file_size": len(data)}
        return self.message(user_id, None, document=doc)

    def wait_for(self, predicate, timeout: float = 30.0) -> list[Sent]:
        """Wait until ``predicate(sent)`` holds for the list of calls so far; return the matching calls."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matched = [s for s in self.sent if predicate(s)]
                if matched:
                    return matched
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"nothing matched; sent so far: {[(s.method, s.text[:30]) for s in self.sent]}")
                self._cond.wait(remaining)

    def fail_next(self, method: str, status: int = 500, description: str = "Internal Server Error", times: int = 1,
                  retry_after: int | None = None) -> None:
        """The next ``times`` calls of ``method`` fail as Telegram fails (5xx, or 429 with retry_after)."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        with self._cond:
            self._faults.setdefault(method, []).extend(Rejected(status, description, parameters) for _ in range(times))

    def messages_to(self, chat_id: int) -> list[Sent]:
        with self._cond:
            return list(self._by_chat.get(chat_id, []))

    def calls_to(self, chat_id: int) -> list[Sent]:
        """Every call the bot made into ``chat_id`` (messages, polls, documents, chat actions …)."""
        with self._cond:
            return [s for s in self.sent if s.chat_id == chat_id]

    def poll_answer(self, user_id: int, poll_id: str, option_ids: list[int]) -> dict:
        """A poll_answer update, with the fields Bot API 9.6 requires."""
        user = {"id": user_id, "is_bot": False, "first_name": f"用户{user_id}"}
        return {"poll_answer": {"poll_id": poll_id, "user": user, "option_ids": option_ids,
                                "option_persistent_ids": [str(i) for i in option_ids]}}

    def wait_for_questions(self, chat_id: int, count: int, timeout: float = 30.0) -> list[Sent]:
        """Wait until ``count`` quiz questions (polls, or multiple-choice messages) reached ``chat_id``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._questions_by_chat.get(chat_id, [])) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = len(self._questions_by_chat.get(chat_id, []))
                    raise TimeoutError(f"{chat_id} got {got} of {count} quiz questions")
                self._cond.wait(remaining)
            return list(self._questions_by_chat[chat_id])

    def wait_for_messages(self, chat_id: int, count: int, timeout: float = 30.0) -> list[Sent]:
        """Wait until ``count`` messages have been sent to ``chat_id``; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._by_chat.get(chat_id, [])) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{chat_id} got {len(self._by_chat.get(chat_id, []))} of {count} messages")
                self._cond.wait(remaining)
            return list(self._by_chat[chat_id])

    # server side
    def _record(self, method: str, params: dict, files: dict | None = None) -> Sent:
        sent = Sent(method, params, time.perf_counter(), files or {})
        with self._cond:
            self.sent.append(sent)
            if method == "editMessageText":
                self.edits[sent.chat_id] = self.edits.get(sent.chat_id, 0) + 1
            if method == "sendMessage":
                self._by_chat.setdefault(sent.chat_id, []).append(sent)
                if any(str(b.get("callback_data", "")).startswith("mq:") for row in sent.buttons for b in row):
                    self._questions_by_chat.setdefault(sent.chat_id, []).append(sent)
            self._cond.notify_all()
        return sent

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset", 0) or 0)
        timeout = float(params.get("timeout", 0) or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        with self._cond:
            while True:
                ready = [u for u in self._updates if u["update_id"] >= offset]
                if ready or self._redeliveries or time.monotonic() >= deadline:
                    self._updates = ready
                    again, self._redeliveries = self._redeliveries, []
                    return again + ready[:100]
                self._cond.wait(max(0.0, deadline - time.monotonic()))

    def _message_result(self, params: dict, **extra: Any) -> dict:
        chat_id = int(params.get("chat_id", 0))
        result = {"message_id": next(self._message_ids), "date": int(time.time()),
                  "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}, "from": BOT_USER}
        result.update(extra)
        return result

    def _call(self, method: str, params: dict, files: dict) -> tuple[int, dict]:
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        if method == "getWebhookInfo":
            hooks = [s.params for s in self.sent if s.method in {"setWebhook", "deleteWebhook"}]
            url = hooks[-1].get("url", "") if hooks else ""
            return 200, {"ok": True, "result": {"url": url, "has_custom_certificate": False,
                                                "pending_update_count": len(self._updates)}}
        try:
            self._check(method, params, files)
        except Rejected as exc:
            with self._cond:
                self.rejected.append((Sent(method, params, time.perf_counter(), files), exc))
                self._cond.notify_all()
            body = {"ok": False, "error_code": exc.status, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return exc.status, body
        sent = self._record(method, params, files)
        if method in {"setMyCommands", "deleteWebhook", "sendChatAction", "answerCallbackQuery", "setWebhook"}:
            return 200, {"ok": True, "result": True}
        if method == "sendMessage":
            sent.result = self._message_result(params, text=params.get("text", ""))
            return 200, {"ok": True, "result": sent.result}
        if method == "editMessageText":
            return 200, {"ok": True, "result": self._message_result(params, text=params.get("text", ""))}
        if method == "sendDocument":
            name, data = files.get("document", ("file", b""))
            doc = {"file_id": "sent", "file_unique_id": "sent", "file_name": name, "file_size": len(data)}
            return 200, {"ok": True, "result": self._message_result(params, document=doc)}
        if method == "sendPoll":
            options = [{"text": o if isinstance(o, str) else o.get("text", ""), "voter_count": 0,
                        "persistent_id": str(n)} for n, o in enumerate(params.get("options", []))]
            poll = {"id": f"poll-{next(self._poll_ids)}", "question": params.get("question", ""), "options": options,
                    "total_voter_count": 0, "is_closed": False, "is_anonymous": False,
                    "type": params.get("type", "regular"),
                    "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
                    "allows_revoting": False, "members_only": False}
            if params.get("correct_option_ids") is not None:  # the sender sees the right options
                poll["correct_option_ids"] = list(params["correct_option_ids"])
            result = self._message_result(params, poll=poll)
            with self._cond:
                sent.result = result
                self._questions_by_chat.setdefault(sent.chat_id, []).append(sent)
                self._cond.notify_all()
            return 200, {"ok": True, "result": result}
        if method == "stopPoll":
            return 200, {"ok": True, "result": {"id": "poll", "question": "", "options": [], "total_voter_count": 0,
                                                "is_closed": True, "is_anonymous": False, "type": "quiz",
                                                "allows_multiple_answers": False, "allows_revoting": False,
                                                "members_only": False}}
        if method == "getFile":
            file_id = str(params.get("file_id"))
            if file_id not in self.files:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {"file_id": file_id, "file_unique_id": file_id,
                                                "file_size": len(self.files[file_id]), "file_path": f"docs/{file_id}"}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _check(self, method: str, params: dict, files: dict) -> None:
        """Raise Rejected for what Telegram would refuse: a planted fault, a limit, or flood control."""
        with self._cond:
            faults = self._faults.get(method)
            if faults:
                raise faults.pop(0)
        validate(method, params, files)
        if method in NEW_MESSAGE_METHODS and "chat_id" in params:
            self.flood_control.admit(int(params["chat_id"]))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot hung up (a long poll cut short when it stops)

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                prefix = f"/file/bot{TOKEN}/docs/"
                path = urllib.parse.unquote(self.path)
                if path.startswith(prefix) and path[len(prefix):] in api.files:
                    self._send(200, api.files[path[len(prefix):]], "application/octet-stream")
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                prefix = f"/bot{TOKEN}/"
                path = urllib.parse.unquote(self.path)
                if not path.startswith(prefix):
                    self._send(401, json.dumps({"ok": False, "error_code": 401,
                                                "description": "Unauthorized"}).encode())
                    return
                method = path[len(prefix):]
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                params, files = _parse(self.headers.get("Content-Type", ""), body)
                status, payload = api._call(method, params, files)
                self._send(status, json.dumps(payload, ensure_ascii=False).encode())

        return Handler


def _decode(value: str) -> Any:
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, dict | list | int | float | bool) else value


def _parse(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """PTB sends parameters form-encoded (JSON for structured values), files as multipart."""
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}"), files
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            if filename is not None:
                files[name] = (filename, payload)
            else:
                params[name] = _decode(payload.decode("utf-8"))
        return params, files
    for key, values in urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
        params[key] = _decode(values[-1])
    return params, files
