"""Webhook mode: Telegram posts updates to us, and only requests that carry our secret are read.

The secret (``BOT_WEBHOOK_SECRET``) is registered with ``setWebhook``; Telegram sends it back in the
``X-Telegram-Bot-Api-Secret-Token`` header of every request. A request without it, or with another value,
is refused with 403 before its body is read, let alone parsed: nobody who merely reaches the URL can post
an update "from" an admin. Without a configured secret one is generated at start-up and registered; a
configured one shorter than 16 characters, or with characters Telegram does not allow, stops the bot.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import signal
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MIN_SECRET = 16
MAX_BODY = 1 << 20  # updates are a few kilobytes
_SECRET_CHARS = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts


class WebhookConfigError(Exception):
    """The webhook cannot be served safely with this configuration (message in Chinese)."""


def webhook_secret(configured: str) -> tuple[str, bool]:
    """(secret, generated): the configured secret once checked, or a new random one."""
    if not configured:
        return secrets.token_urlsafe(32), True
    if len(configured) < MIN_SECRET:
        raise WebhookConfigError(
            f"BOT_WEBHOOK_SECRET 太短（{len(configured)} 个字符）：至少 {MIN_SECRET} 个字符，"
            "或留空由程序自动生成。webhook 模式没有启动。")
    if not _SECRET_CHARS.match(configured):
        raise WebhookConfigError(
            "BOT_WEBHOOK_SECRET 只能包含英文字母、数字、下划线和连字符（最长 256 个字符）。webhook 模式没有启动。")
    return configured, False


def webhook_path(url: str) -> str:
    """The path Telegram posts to: the path of BOT_WEBHOOK_URL (a reverse proxy passes it on)."""
    return urlsplit(url).path.rstrip("/") or "/"


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """Accepts a POSTed update only with the right secret header; checks it before reading the body."""

    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    def initialize(self, secret: str, accept: Callable[[dict], Awaitable[bool]]) -> None:
        self._secret = secret.encode()
        self._accept = accept
        self._body = bytearray()

    def prepare(self) -> None:
        token = self.request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(token, self._secret):
            log.warning("webhook request from %s refused: %s", self.request.remote_ip,
                        "wrong secret token" if token else "no secret token")
            self._refuse(403)
            return
        if int(self.request.headers.get("Content-Length", "0") or 0) > MAX_BODY:
            self._refuse(413)

    def data_received(self, chunk: bytes) -> None:
        self._body += chunk
        if len(self._body) > MAX_BODY:
            self._refuse(413)

    async def post(self) -> None:
        try:
            data = json.loads(bytes(self._body))
        except ValueError:
            data = None
        if not isinstance(data, dict) or not await self._accept(data):
            self._refuse(400)
            return
        self.set_status(200)
        self.finish()

    def _refuse(self, status: int) -> None:
        self.set_status(status)
        self.finish()

    def log_exception(self, *args: object) -> None:  # the reason is logged above, nothing of the request
        pass


def _acceptor(application: Application) -> Callable[[dict], Awaitable[bool]]:
    async def accept(data: dict) -> bool:
        try:
            update = Update.de_json(data, application.bot)
        except Exception as exc:  # PTB raises assorted errors on malformed updates
            log.warning("webhook update could not be read (%s)", type(exc).__name__)
            return False
        await application.update_queue.put(update)
        return True

    return accept


async def serve_webhook(application: Application, url: str, listen: str, port: int, secret: str,
                        stop: asyncio.Event) -> None:
    """Register the webhook, serve it until ``stop`` is set, then shut down cleanly."""
    path = webhook_path(url)
    routes = [(re.escape(path.rstrip("/")) + "/?", UpdateHandler,
               {"secret": secret, "accept": _acceptor(application)})]
    server = tornado.httpserver.HTTPServer(tornado.web.Application(routes), max_body_size=MAX_BODY,
                                           idle_connection_timeout=60)
    async with application:
        if application.post_init is not None:
            await application.post_init(application)
        await application.bot.set_webhook(url=url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
        server.listen(port, address=listen)
        await application.start()
        log.info("webhook listening on %s:%s%s", listen, port, path)
        try:
            await stop.wait()
        finally:
            server.stop()
            await server.close_all_connections()
            await application.stop()
            if application.post_shutdown is not None:
                await application.post_shutdown(application)


def run_webhook(application: Application, url: str, listen: str, port: int, secret: str) -> None:
    """Serve the webhook until SIGINT or SIGTERM."""
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_webhook(application, url, listen, port, secret, stop)

    asyncio.run(main())
