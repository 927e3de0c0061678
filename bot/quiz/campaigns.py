"""Campaigns (质量月 …): name, local dates, pass mark, questions, attempts, cooldown and credits, kept as data.

A quiz taken while a campaign is open counts for it (limits and credits per campaign); outside any campaign
quizzes are practice and grant nothing. ``BOT_QUIZ_CAMPAIGN`` (``名称@2026-09-01..2026-09-30``) defines one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot import localtime
from bot.config import Settings
from bot.quiz.draw import Rules
from bot.storage import Store, now

DEFAULT_NAME = "质量月培训测验"
_WINDOW = re.compile(r"^\s*(?:(?P<name>[^@]+?)\s*@)?\s*(?P<start>\d{4}-\d{2}-\d{2})\s*\.\.\s*"
                     r"(?P<end>\d{4}-\d{2}-\d{2})\s*$")
SETTING_KEYS = {"pass": "pass_mark", "合格分": "pass_mark", "questions": "size", "题数": "size",
                "attempts": "attempts", "次数": "attempts", "cooldown": "cooldown_minutes",
                "冷却": "cooldown_minutes", "credits": "credits", "学时": "credits", "truefalse": "truefalse_share",
                "判断题占比": "truefalse_share", "form": "fixed_form", "组卷": "fixed_form"}


class CampaignError(ValueError):
    """A campaign cannot be opened or closed; the message says why, in Chinese."""


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    starts_on: date
    ends_on: date
    rules: Rules
    status: str  # open | closed
    source: str  # env | admin | cli

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    @property
    def window(self) -> str:
        return f"{self.starts_on.isoformat()}..{self.ends_on.isoformat()}"

    def describe(self) -> str:
        r = self.rules
        form = "，统一试卷" if r.fixed_form else ""
        return (f"{self.name}（{self.window}）：{r.size} 题，{r.pass_mark} 分合格，每人 {r.attempts} 次，"
                f"间隔 {r.cooldown_minutes:g} 分钟，合格计 {r.credits:g} 学时{form}")


def parse_window(text: str) -> tuple[str, date, date]:
    """``名称@2026-09-01..2026-09-30`` (name optional) → (name, start, end)."""
    match = _WINDOW.match(text or "")
    if not match:
        raise CampaignError(f"活动期应写成 名称@2026-09-01..2026-09-30（名称可省略），而不是 {text!r}")
    try:
        start, end = date.fromisoformat(match["start"]), date.fromisoformat(match["end"])
    except ValueError as exc:
        raise CampaignError(f"日期无效：{text}") from exc
    if end < start:
        raise CampaignError(f"结束日期早于开始日期：{text}")
    return (match["name"] or DEFAULT_NAME).strip(), start, end


def default_rules(settings: Settings, credits: bool = True) -> Rules:
    return Rules(size=settings.quiz_size, pass_mark=settings.quiz_pass_mark,
                 truefalse_share=settings.quiz_truefalse_share, attempts=settings.quiz_attempts,
                 cooldown_minutes=settings.quiz_cooldown_minutes,
                 credits=settings.quiz_credits if credits else 0.0)


def practice_rules(settings: Settings) -> Rules:
    """Practice: the usual length and pass mark, no limits, no credits."""
    return Rules(size=settings.quiz_size, pass_mark=settings.quiz_pass_mark,
                 truefalse_share=settings.quiz_truefalse_share)


def parse_overrides(words: list[str]) -> dict[str, object]:
    """``pass=70 questions=20 attempts=3 cooldown=10 credits=2 truefalse=0.2 form=fixed`` (or Chinese keys)."""
    out: dict[str, object] = {}
    for word in words:
        key, sep, value = word.partition("=")
        field = SETTING_KEYS.get(key.strip().lower())
        if not sep or field is None:
            raise CampaignError(f"不认识的设置 {word!r}。可用：pass= questions= attempts= cooldown= credits= "
                                "truefalse= form=fixed|random")
        try:
            if field == "fixed_form":
                out[field] = value.strip().lower() in {"fixed", "统一", "1", "yes"}
            elif field in {"pass_mark", "size", "attempts"}:
                out[field] = int(value)
            else:
                out[field] = float(value)
        except ValueError as exc:
            raise CampaignError(f"{key} 的值应为数字：{value}") from exc
    if not 0 <= int(out.get("pass_mark", 60)) <= 100 or int(out.get("size", 20)) < 1:
        raise CampaignError("合格分应在 0–100 之间，题数至少 1。")
    if not 0 <= float(out.get("truefalse_share", 0.2)) <= 1:
        raise CampaignError("判断题占比应在 0–1 之间。")
    return out


class Campaigns:
    """The campaigns table."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def _row(self, row: dict) -> Campaign:
        rules = Rules(size=row["size"], pass_mark=row["pass_mark"], truefalse_share=row["truefalse_share"],
                      attempts=row["attempts"], cooldown_minutes=row["cooldown_minutes"], credits=row["credits"],
                      fixed_form=bool(row["fixed_form"]))
        return Campaign(row["id"], row["name"], date.fromisoformat(row["starts_on"]),
                        date.fromisoformat(row["ends_on"]), rules, row["status"], row["source"])

    def get(self, campaign_id: int | None) -> Campaign | None:
        if campaign_id is None:
            return None
        row = self.store.one("select * from campaigns where id = ?", [campaign_id])
        return self._row(row) if row else None

    def all(self) -> list[Campaign]:
        return [self._row(r) for r in self.store.rows("select * from campaigns order by starts_on, id")]

    def find(self, key: str) -> Campaign | None:
        """By id or by name (the latest of that name)."""
        key = key.strip()
        if key.isdigit():
            return self.get(int(key))
        row = self.store.one("select * from campaigns where name = ? order by id desc limit 1", [key])
        return self._row(row) if row else None

    def current(self, today: date | None = None) -> Campaign | None:
        """The open campaign whose dates cover today (local time); the latest opened wins."""
        day = today or localtime.today(self.settings.timezone)
        for campaign in sorted(self.all(), key=lambda c: c.id, reverse=True):
            if campaign.status == "open" and campaign.covers(day):
                return campaign
        return None

    def sync_env(self) -> Campaign | None:
        """Register the campaign BOT_QUIZ_CAMPAIGN names (once: closing it stays closed)."""
        if not self.settings.quiz_campaign.strip():
            return None
        name, start, end = parse_window(self.settings.quiz_campaign)
        with self.store.lock:
            row = self.store.one("select * from campaigns where name = ? and starts_on = ? and ends_on = ?",
                                 [name, start.isoformat(), end.isoformat()])
            if row:
                return self._row(row)
            return self._insert(name, start, end, default_rules(self.settings), "env")

    def open(self, name: str, start: date, end: date, source: str = "admin", **overrides: object) -> Campaign:
        """A new open campaign; refused while another open one overlaps its dates."""
        if end < start:
            raise CampaignError("结束日期早于开始日期。")
        with self.store.lock:
            for other in self.all():
                if other.status == "open" and other.starts_on <= end and start <= other.ends_on:
                    raise CampaignError(f"与进行中的活动“{other.name}”（{other.window}，编号 {other.id}）日期重叠，"
                                        "请先关闭它。")
            base = default_rules(self.settings)
            rules = Rules(**{**base.__dict__, **overrides})
            return self._insert(name, start, end, rules, source)

    def close(self, campaign: Campaign) -> Campaign:
        if campaign.status == "closed":
            raise CampaignError(f"活动“{campaign.name}”已经关闭。")
        with self.store.lock, self.store.db.conn:
            self.store.db["campaigns"].update(campaign.id, {"status": "closed", "closed_at": now()})
        return self.get(campaign.id)  # type: ignore[return-value]

    def _insert(self, name: str, start: date, end: date, rules: Rules, source: str) -> Campaign:
        with self.store.lock, self.store.db.conn:
            table = self.store.db["campaigns"].insert({
                "name": name, "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                "pass_mark": rules.pass_mark, "size": rules.size, "attempts": rules.attempts,
                "cooldown_minutes": rules.cooldown_minutes, "credits": rules.credits,
                "truefalse_share": rules.truefalse_share, "fixed_form": int(rules.fixed_form), "status": "open",
                "source": source, "created_at": now(), "closed_at": "",
            })
        return self.get(int(table.last_pk))  # type: ignore[return-value]
