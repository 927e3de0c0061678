"""Webhook mode: forged updates are refused before they are read; the bot will not run without a secret.

The real bot process (``python -m bot serve``) against the stand-in Bot API; updates are posted to its
webhook port on 127.0.0.1 the way Telegram — or an attacker — would post them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.webhook import SECRET_HEADER
from tests.conftest import ROOT
from tests.fake_bot_api import TOKEN, FakeBotApi

ADMIN, USER = 1, 2
SECRET = "s3cret-Token_of-32-characters-ok"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    def __init__(self, api: FakeBotApi, process: subprocess.Popen, port: int, log: Path) -> None:
        self.api, self.process, self.port, self.log = api, process, port, log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tg/hook"

    def post(self, update: dict, secret: str | None, path: str = "/tg/hook", body: bytes | None = None) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        content = body if body is not None else json.dumps(update, ensure_ascii=False).encode()
        response = httpx.post(f"http://127.0.0.1:{self.port}{path}", content=content, headers=headers, timeout=10)
        return response.status_code


def _serve(env_for: dict, tmp_path: Path, secret: str) -> tuple[FakeBotApi, subprocess.Popen, int, Path]:
    api = FakeBotApi().start()
    port = _free_port()
    env = dict(env_for, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
               TELEGRAM_API_FILE_URL=api.base_file_url, BOT_ADMIN_IDS=str(ADMIN),
               BOT_DB_PATH=str(tmp_path / "db.sqlite"), BOT_UPLOAD_DIR=str(tmp_path / "uploads"),
               BOT_WEBHOOK_URL="https://bot.example.cn/tg/hook", BOT_WEBHOOK_LISTEN="127.0.0.1",
               BOT_WEBHOOK_PORT=str(port), BOT_WEBHOOK_SECRET=secret)
    log = tmp_path / "bot.log"
    process = subprocess.Popen([sys.executable, "-m", "bot", "-v", "serve"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    return api, process, port, log


@pytest.fixture
def served(env_for, tmp_path: Path) -> Iterator[Served]:
    api, process, port, log = _serve(env_for, tmp_path, SECRET)
    try:
        api.wait_for(lambda s: s.method == "setWebhook", timeout=120)
        deadline = time.monotonic() + 30
        while True:  # the webhook port opens right after setWebhook
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield Served(api, process, port, log)
    finally:
        process.terminate()
        process.wait(30)
        api.stop()


def test_forged_updates_are_refused_and_real_ones_served(served: Served) -> None:
    registered = [s for s in served.api.sent if s.method == "setWebhook"][0]
    assert registered.params["secret_token"] == SECRET
    assert registered.params["url"] == "https://bot.example.cn/tg/hook"

    forged = served.api.message(ADMIN, "/export")  # "from" the admin, by anyone who reaches the URL
    forged["update_id"] = 1
    assert served.post(forged, secret=None) == 403
    assert served.post(forged, secret="s3cret-Token_of-32-characters-no") == 403
    assert served.post(forged, secret=SECRET[:-1]) == 403
    assert served.post(forged, secret=None, body=b"{not json" * 300_000) == 403  # refused unread
    assert served.post(forged, secret=SECRET, path="/elsewhere") == 404
    assert served.post({}, secret=SECRET, body=b"{not json") == 400
    time.sleep(2)
    assert not [s for s in served.api.sent if s.chat_id == ADMIN and s.method != "setMyCommands"]

    real = served.api.message(USER, "/help")
    real["update_id"] = 2
    assert served.post(real, secret=SECRET) == 200
    served.api.wait_for(lambda s: s.chat_id == USER and "直接发送您的问题" in s.text, timeout=60)
    export = served.api.message(ADMIN, "/export")
    export["update_id"] = 3
    assert served.post(export, secret=SECRET) == 200
    served.api.wait_for(lambda s: s.method == "sendDocument" and s.chat_id == ADMIN, timeout=60)
    served.process.terminate()
    served.process.wait(30)
    assert SECRET not in served.log.read_text()  # the secret is never logged
    assert "refused" in served.log.read_text()


def test_without_a_secret_one_is_generated_and_registered(env_for, tmp_path: Path) -> None:
    api, process, port, log = _serve(env_for, tmp_path, "")
    try:
        registered = api.wait_for(lambda s: s.method == "setWebhook", timeout=120)[0]
        secret = registered.params["secret_token"]
        assert len(secret) >= 32
        deadline = time.monotonic() + 30
        served = Served(api, process, port, log)
        update = {**api.message(USER, "/help"), "update_id": 10}
        while True:
            try:
                assert served.post(update, secret=None) == 403
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert served.post(update, secret=secret) == 200
        api.wait_for(lambda s: s.chat_id == USER and "直接发送您的问题" in s.text, timeout=60)
    finally:
        process.terminate()
        process.wait(30)
        api.stop()
    assert secret not in log.read_text()


@pytest.mark.parametrize("secret", ["too-short", "has spaces and is long enough", "非ASCII的秘密令牌非ASCII的秘密令牌"])
def test_a_weak_secret_stops_the_bot_before_it_starts(env_for, tmp_path: Path, secret: str) -> None:
    api, process, _, log = _serve(env_for, tmp_path, secret)
    try:
        assert process.wait(60) == 2
        assert "BOT_WEBHOOK_SECRET" in log.read_text()
        assert not [s for s in api.sent if s.method == "setWebhook"]
    finally:
        api.stop()

