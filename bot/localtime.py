"""Local time (``BOT_TIMEZONE``) for everything shown or filtered; UTC ISO strings are what is stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimezoneError(ValueError):
    """BOT_TIMEZONE names no IANA zone."""


@lru_cache(maxsize=8)
def zone(name: str) -> ZoneInfo:
    """The zone called ``name`` (e.g. Asia/Shanghai)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimezoneError(f"未知的时区 {name!r}（BOT_TIMEZONE 应为如 Asia/Shanghai 的 IANA 时区名）") from exc


def parse_utc(stored: str) -> datetime | None:
    """A stored UTC ISO string as an aware datetime; None for an empty value."""
    if not stored:
        return None
    moment = datetime.fromisoformat(stored)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_local(stored: str, tz: str) -> datetime | None:
    moment = parse_utc(stored)
    return moment.astimezone(zone(tz)) if moment else None


def show(stored: str, tz: str, seconds: bool = False) -> str:
    """``2026-09-01 16:05`` in local time (empty for an empty value)."""
    moment = to_local(stored, tz)
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def show_date(stored: str, tz: str) -> str:
    """``2026年9月1日`` in local time."""
    moment = to_local(stored, tz)
    return f"{moment.year}年{moment.month}月{moment.day}日" if moment else ""


def today(tz: str, at: datetime | None = None) -> date:
    """The local calendar day now (or at ``at``)."""
    return (at or datetime.now(UTC)).astimezone(zone(tz)).date()


def day_start_utc(day: date, tz: str) -> str:
    """The stored (UTC ISO) form of local midnight at the start of ``day``: for ``>=`` filters."""
    start = datetime.combine(day, time.min, tzinfo=zone(tz))
    return start.astimezone(UTC).isoformat(timespec="milliseconds")
