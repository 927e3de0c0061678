"""Run the real Telegram Application in a background thread against the stand-in Bot API."""

from __future__ import annotations

import asyncio
import shutil
import threading
from dataclasses import replace
from pathlib import Path

from bot.config import Settings
from bot.dialogue import Dialogue
from bot.knowledge import KnowledgeBase
from bot.quiz.bank import load_bank
from bot.quiz.engine import QuizService
from bot.storage import Store
from bot.telegram_bot import build_application
from tests.fake_bot_api import TOKEN, FakeBotApi

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
ADMIN, USER, OTHER = 1, 2, 3  # the admin and two users of the end-to-end tests


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


def start_bot(corpus_settings, embedder, tmp_path: Path, **overrides) -> RunningBot:
    """The real Telegram front end on a copy of the corpus index, talking to a fresh stand-in Bot API."""
    index = tmp_path / "index"
    shutil.copytree(corpus_settings.index_dir, index)  # admin tests re-index: keep the shared index intact
    api = FakeBotApi().start()
    settings = replace(
        corpus_settings, index_dir=index, db_path=tmp_path / "db.sqlite", upload_dir=tmp_path / "uploads",
        telegram_token=TOKEN, telegram_api_base_url=api.base_url, telegram_api_file_url=api.base_file_url,
        admin_ids=frozenset({ADMIN}), rate_limit=0, **{"quiz_open_period": 30, **overrides},
    )
    kb = KnowledgeBase(settings, embedder)
    store = Store(settings.db_path)
    names = kb.retriever().names
    bank = [replace(q, doc=names.resolve(q.doc) or q.doc) for q in load_bank([KNOWLEDGE / "quizzes"]).questions]
    return RunningBot(api, Dialogue(kb, store, QuizService(store, bank, settings)), settings).start()
