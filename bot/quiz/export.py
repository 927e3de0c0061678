"""Records for employers: one row per attempt (campaign, person, employer, content, local time, result,
credits: the type/content/time/assessment record continuing-education rules ask employers to keep), and a
summary per employer. Every text cell that a spreadsheet would run as a formula is neutralised."""

from __future__ import annotations

import csv
import io
from datetime import date

from bot import localtime
from bot.quiz.certificate import content_of
from bot.storage import Store

COLUMNS: list[tuple[str, str]] = [
    ("attempt_id", "记录编号"), ("campaign", "培训活动"), ("kind", "培训形式"), ("user_id", "用户ID"),
    ("person_name", "姓名"), ("employer", "工作单位"), ("position", "岗位"), ("reg_no", "注册号"),
    ("content", "培训内容"), ("started", "开始时间"), ("finished", "完成时间"), ("status", "状态"),
    ("score", "成绩"), ("result", "考核结果"), ("credits", "学时"), ("cert_code", "证明验证码"),
    ("cert_status", "证明状态"),
]
SUMMARY_COLUMNS: list[tuple[str, str]] = [
    ("campaign", "培训活动"), ("employer", "工作单位"), ("participants", "参加人数"), ("passed", "合格人数"),
    ("pass_rate", "合格率"), ("attempts", "测验次数"), ("credits", "学时合计"),
]
_STATUS = {"finished": "已完成", "in_progress": "进行中", "abandoned": "已放弃"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text that begins like a formula (= + - @, tab, CR) gets a leading apostrophe: shown, never run."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _campaign_filter(campaign_id: int | None) -> tuple[str, list]:
    return ("a.campaign_id = ?", [campaign_id]) if campaign_id is not None else ("1 = 1", [])


def attempt_rows(store: Store, timezone: str, since: date | None = None, campaign_id: int | None = None) -> list[dict]:
    """One row per attempt, oldest first; ``since`` keeps attempts started on or after that local day."""
    where, params = _campaign_filter(campaign_id)
    if since is not None:
        where += " and a.started_at >= ?"
        params.append(localtime.day_start_utc(since, timezone))
    rows = store.rows(
        "select a.*, coalesce(c.name, '') as campaign_name from quiz_attempts a "
        f"left join campaigns c on c.id = a.campaign_id where {where} order by a.id", params)
    out = []
    for a in rows:
        credited = a.get("mode") == "credited"
        finished = a["status"] == "finished"
        revoked = bool(a.get("revoked_at"))
        out.append({
            "attempt_id": a["id"], "campaign": a["campaign_name"] or ("—" if credited else "练习"),
            "kind": "在线测验（计学时）" if credited else "在线练习（不计学时）", "user_id": a["user_id"],
            "person_name": a.get("person_name") or "", "employer": a.get("employer") or "",
            "position": a.get("position") or "", "reg_no": a.get("reg_no") or "", "content": content_of(a),
            "started": localtime.show(a["started_at"], timezone, seconds=True),
            "finished": localtime.show(a["finished_at"], timezone, seconds=True),
            "status": _STATUS.get(a["status"], a["status"]), "score": a["score"] if finished else None,
            "result": ("合格" if a["passed"] else "不合格") if finished else "",
            "credits": 0.0 if revoked else float(a["credits"] or 0), "cert_code": a["cert_code"] or "",
            "cert_status": ("已撤销" if revoked else "有效") if a["cert_code"] else "",
            "passed": bool(a["passed"]), "credited": credited, "finished_ok": finished,
        })
    return out


def employer_summary(rows: list[dict]) -> list[dict]:
    """Per campaign and employer, over finished credited attempts: participants, how many passed, pass rate
    (people who passed / people who took part), attempts and credits."""
    groups: dict[tuple[str, str], dict] = {}
    for row in rows:
        if not (row["credited"] and row["finished_ok"]):
            continue
        group = groups.setdefault((row["campaign"], row["employer"]), {
            "campaign": row["campaign"], "employer": row["employer"], "people": set(), "passers": set(),
            "attempts": 0, "credits": 0.0})
        group["people"].add(row["user_id"])
        if row["passed"]:
            group["passers"].add(row["user_id"])
        group["attempts"] += 1
        group["credits"] += row["credits"]
    out = []
    for group in groups.values():
        participants, passed = len(group["people"]), len(group["passers"])
        out.append({"campaign": group["campaign"], "employer": group["employer"], "participants": participants,
                    "passed": passed, "pass_rate": round(passed / participants, 4) if participants else 0.0,
                    "attempts": group["attempts"], "credits": group["credits"]})
    return sorted(out, key=lambda r: (r["campaign"], -r["participants"], r["employer"]))


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> list[list[object]]:
    return [[header for _, header in columns]] + [[neutralise(row[key]) for key, _ in columns] for row in rows]


def to_csv(rows: list[dict], columns: list[tuple[str, str]] = COLUMNS) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(_table(rows, columns))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def to_xlsx(rows: list[dict]) -> bytes:
    """Two sheets: 测验记录 (one row per attempt) and 单位汇总."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheets = ((book.active, "测验记录", _table(rows, COLUMNS)),
              (book.create_sheet(), "单位汇总", _table(employer_summary(rows), SUMMARY_COLUMNS)))
    for sheet, title, table in sheets:
        sheet.title = title
        for line in table:
            sheet.append(line)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, whatever it looks like
        sheet.freeze_panes = "A2"
    summary = book["单位汇总"]
    for (cell,) in summary.iter_rows(min_row=2, min_col=5, max_col=5):
        cell.number_format = "0.0%"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
