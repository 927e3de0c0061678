"""Run the real Telegram Application in a background thread against the stand-in Bot API."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

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
            await application.post_shutdown(application)  # run_polling() does this in production

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


def prepare_bot_env(work: Path, index: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a benchmark's bot process: a copy of ``index`` (or a fresh index of ../shared/corpus
    and knowledge/, built here) in ``work``, and a database of its own."""
    from bot.config import load_settings
    from bot.knowledge import KnowledgeBase

    root = Path(__file__).resolve().parent.parent
    if index:
        shutil.copytree(index, work / "index")
    env = {
        "BOT_INDEX_DIR": str(work / "index"),
        "BOT_KNOWLEDGE_DIRS": f"{root.parent / 'shared' / 'corpus'}:{root / 'knowledge'}",
        "BOT_GLOSSARY": str(root / "knowledge" / "glossary.yaml"),
        "BOT_DB_PATH": str(work / "db.sqlite"),
        "BOT_UPLOAD_DIR": str(work / "uploads"),
        **(extra or {}),
    }
    kb = KnowledgeBase(load_settings(env))
    if not kb.has_index():
        print("indexing the corpus first …", flush=True)
        kb.reindex()
    return env
