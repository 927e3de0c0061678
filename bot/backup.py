"""``python -m bot backup PATH``: a consistent copy of the records, taken while the bot keeps running.

SQLite's online backup API copies the database as of one moment (a WAL snapshot: writers go on meanwhile),
including what is still in the write-ahead log. The copy is checked (integrity_check), made a plain
single-file database, written under a temporary name, fsynced and then renamed: a failed or interrupted
backup never leaves a half-written file under the name asked for.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.retrieval.integrity import fsync_dir as fsync_path


class BackupError(Exception):
    """The backup could not be made (message in Chinese)."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int
    counts: dict[str, int]


def backup_target(target: Path, now: datetime | None = None) -> Path:
    """A folder gets a dated file name inside it."""
    if target.is_dir():
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        return target / f"zhiliangtong-{stamp}.db"
    return target


def backup_database(source: Path, target: Path, force: bool = False) -> BackupReport:
    if not source.is_file():
        raise BackupError(f"记录库不存在：{source}（检查 BOT_DB_PATH）")
    target = backup_target(target)
    if target.resolve() == source.resolve():
        raise BackupError("备份文件不能是记录库本身")
    if target.exists() and not force:
        raise BackupError(f"{target} 已存在；换一个文件名，或加 --force 覆盖")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        counts = _copy(source, partial)
        fsync_path(partial)
        os.replace(partial, target)
        fsync_path(target.parent)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"备份失败：{exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupReport(target, target.stat().st_size, counts)


def _copy(source: Path, partial: Path) -> dict[str, int]:
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)  # one step: a consistent snapshot, the bot's writers are not blocked (WAL)
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, without -wal/-shm companions
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"备份副本校验失败（{check}）；记录库可能已损坏，请运行 python -m bot doctor")
        tables = {row[0] for row in dst.execute("select name from sqlite_master where type = 'table'")}
        return {t: dst.execute(f"select count(*) from {t}").fetchone()[0]  # noqa: S608 - fixed names
                for t in ("users", "questions", "quiz_attempts", "quiz_answers") if t in tables}
    finally:
        dst.close()
        src.close()
