"""Exports, leaderboards, per-question statistics, the score chart and certificates."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from bot.quiz.bank import Question
from bot.storage import Store

EXPORT_COLUMNS = ["attempt_id", "user_id", "name", "unit", "role", "quiz", "score", "passed", "status",
                  "started_at", "finished_at", "credits"]


def export_rows(store: Store, since: date | None = None) -> list[dict]:
    """One row per attempt (oldest first); ``since`` keeps attempts started on or after that day."""
    sql = ("select a.id as attempt_id, a.user_id, coalesce(u.name, '') as name, coalesce(u.unit, '') as unit, "
           "coalesce(u.role, '') as role, a.quiz, a.score, a.passed, a.status, a.started_at, a.finished_at, "
           "a.credits from quiz_attempts a left join users u on u.id = a.user_id")
    params: list = []
    if since is not None:
        sql += " where a.started_at >= ?"
        params.append(since.isoformat())
    return store.rows(sql + " order by a.id", params)


def to_csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    writer.writerows({k: row[k] for k in EXPORT_COLUMNS} for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def to_xlsx(rows: list[dict]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "attempts"
    sheet.append(EXPORT_COLUMNS)
    for row in rows:
        sheet.append([row[k] for k in EXPORT_COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def leaderboard(store: Store, limit: int = 10) -> tuple[list[dict], list[dict]]:
    """(people, units): best score and credits; users who opted out are left out of both."""
    people = store.rows(
        "select u.id, u.name, u.unit, max(a.score) as best, sum(a.credits) as credits, count(*) as attempts "
        "from quiz_attempts a join users u on u.id = a.user_id "
        "where a.status = 'finished' and u.leaderboard = 1 group by u.id order by best desc, credits desc, u.id "
        "limit ?", [limit])
    units = store.rows(
        "select unit, round(avg(best), 1) as average, count(*) as people from ("
        "  select u.unit as unit, max(a.score) as best from quiz_attempts a join users u on u.id = a.user_id"
        "  where a.status = 'finished' and u.leaderboard = 1 and u.unit != '' group by u.id"
        ") group by unit order by average desc limit ?", [limit])
    return people, units


def question_stats(store: Store, bank: dict[str, Question], min_for_discrimination: int = 10) -> list[dict]:
    """Per question: answers, facility index (share correct) and, with enough attempts, discrimination
    (share correct among the top 27 % of attempts minus the bottom 27 %)."""
    answers = store.rows(
        "select q.question_id, q.correct, a.score from quiz_answers q join quiz_attempts a on a.id = q.attempt_id "
        "where a.status = 'finished'")
    by_question: dict[str, list[tuple[int, int]]] = {}
    for row in answers:
        by_question.setdefault(row["question_id"], []).append((row["score"], row["correct"]))
    out = []
    for qid, rows in sorted(by_question.items()):
        facility = sum(c for _, c in rows) / len(rows)
        discrimination = None
        if len(rows) >= min_for_discrimination:
            ordered = sorted(rows, key=lambda r: r[0])
            k = max(1, round(0.27 * len(ordered)))
            low, high = ordered[:k], ordered[-k:]
            discrimination = round(sum(c for _, c in high) / k - sum(c for _, c in low) / k, 2)
        question = bank.get(qid)
        out.append({"question_id": qid, "question": question.question if question else "", "answers": len(rows),
                    "facility": round(facility, 2), "discrimination": discrimination})
    return out


def score_chart_png(scores: list[int]) -> bytes:
    """A bar chart of the score distribution (ten-point bins), as PNG."""
    from PIL import Image, ImageDraw

    bins = [0] * 10
    for score in scores:
        bins[min(9, max(0, int(score) // 10))] += 1
    width, height, margin = 640, 360, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top = max(bins) or 1
    bar = (width - 2 * margin) // 10
    draw.text((margin, 10), f"Score distribution (n={len(scores)})", fill="black")
    for i, count in enumerate(bins):
        x0 = margin + i * bar + 4
        h = int((height - 2 * margin - 20) * count / top)
        draw.rectangle([x0, height - margin - h, x0 + bar - 8, height - margin], fill=(52, 120, 200))
        draw.text((x0, height - margin + 4), f"{i * 10}-", fill="black")
        draw.text((x0 + 4, height - margin - h - 14), str(count), fill="black")
    draw.line([margin, height - margin, width - margin, height - margin], fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def certificate_pdf(attempt: dict) -> bytes:
    """A one-page certificate for a passed attempt, with its verification code."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    width, height = landscape(A4)
    pdf = canvas.Canvas(out, pagesize=(width, height))
    pdf.setTitle("质量月培训测验合格证明")
    pdf.setFont("STSong-Light", 28)
    pdf.drawCentredString(width / 2, height - 120, "质量月培训测验合格证明")
    pdf.setFont("STSong-Light", 16)
    lines = [
        f"姓名：{attempt.get('name') or attempt['user_id']}    单位：{attempt.get('unit') or '—'}",
        f"测验：{attempt['quiz']}    成绩：{attempt['score']} 分（合格）",
        f"继续教育学时：{attempt['credits']:g}    完成时间：{attempt['finished_at']}",
        f"验证码：{attempt['cert_code']}",
        "核验方式：python -m bot quiz verify 验证码",
    ]
    for n, line in enumerate(lines):
        pdf.drawCentredString(width / 2, height - 200 - 36 * n, line)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def attempt_answers(store: Store, attempt_id: int) -> list[dict]:
    rows = store.rows("select * from quiz_answers where attempt_id = ? order by idx", [attempt_id])
    for row in rows:
        row["chosen"] = json.loads(row["chosen"])
    return rows
