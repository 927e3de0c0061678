"""Run the real Telegram Application in a background thread against the stand-in Bot API."""

from __future__ import annotations

import asyncio
import threading

from bot.config import Settings
from bot.dialogue import Dialogue
from bot.telegram_bot import build_application
from tests.fake_bot_api import FakeBotApi


class RunningBot:
    def __init__(self, api: FakeBotApi, dialogue: Dialogue, settings: Settings) -> None:
        self.api = api
        self.dialogue = dialogue
        self.settings = settings
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        application = build_application(self.dialogue, self.settings)
        async with application:
            await application.post_init(application)  # run_polling() does this in production
            await application.start()
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
            await application.updater.stop()
            await application.stop()

    def start(self) -> RunningBot:
        self._thread.start()
        assert self._ready.wait(30), "the bot did not start"
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def ask(self, user: int, text: str, timeout: float = 30.0) -> list:
        """Send ``text`` as ``user`` and return the messages the bot sent back."""
        before = len(self.api.messages_to(user))
        self.api.push(self.api.message(user, text))
        return self.api.wait_for_messages(user, before + 1, timeout)[before:]
