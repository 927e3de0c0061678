"""The certificate of a credited pass: a one-page PDF with the embedded CJK font, the person's frozen details,
the campaign, score, credits, local date, the verification code and a QR code of the bot's deep link."""

from __future__ import annotations

import io
import json

from bot import localtime
from bot.quiz.fonts import reportlab_font

TITLE = "继续教育培训测验合格证明"


def verify_link(bot_username: str, code: str) -> str:
    """``https://t.me/<bot>?start=verify_CODE``: opens the bot and shows the certificate's record."""
    return f"https://t.me/{bot_username.lstrip('@')}?start=verify_{code}" if bot_username else ""


def how_to_verify(bot_username: str, code: str) -> str:
    if bot_username:
        return f"核验：扫描二维码，或在 Telegram 中向 @{bot_username.lstrip('@')} 发送 /verify {code}"
    return f"核验：在质量通机器人中发送 /verify {code}"


def content_of(attempt: dict) -> str:
    """What the quiz covered: its name and the topics of the questions drawn."""
    topics: list[str] = []
    for question in json.loads(attempt.get("questions") or "[]"):
        topic = question.get("topic") or ""
        if topic and topic not in topics:
            topics.append(topic)
    return f"{attempt.get('quiz') or ''}" + (f"（{'、'.join(topics)}）" if topics else "")


def record_lines(attempt: dict, timezone: str) -> list[str]:
    """Every field behind a verification code (what /verify and ``quiz verify`` show)."""
    status = "✅ 有效"
    if attempt.get("revoked_at"):
        when = localtime.show(attempt["revoked_at"], timezone)
        status = f"❌ 已撤销（{when}，原因：{attempt.get('revoked_reason') or '未说明'}）"
    window = f"（{attempt['starts_on']} 至 {attempt['ends_on']}）" if attempt.get("starts_on") else ""
    lines = [
        f"验证码：{attempt['cert_code']}",
        f"状态：{status}",
        f"姓名：{attempt.get('person_name') or '—'}",
        f"工作单位：{attempt.get('employer') or '—'}",
        f"岗位：{attempt.get('position') or '—'}",
    ]
    if attempt.get("reg_no"):
        lines.append(f"注册号：{attempt['reg_no']}")
    credits = 0.0 if attempt.get("revoked_at") else float(attempt["credits"])
    lines += [
        f"培训活动：{attempt.get('campaign') or attempt['quiz']}{window}",
        f"培训内容：{content_of(attempt)}",
        f"考核结果：{attempt['score']} 分，合格",
        f"继续教育学时：{credits:g}",
        f"完成时间：{localtime.show(attempt['finished_at'], timezone)}",
    ]
    return lines


def _qr_png(link: str) -> bytes:
    import qrcode

    image = qrcode.make(link, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def certificate_pdf(attempt: dict, timezone: str, bot_username: str = "") -> bytes:
    """One landscape A4 page for a credited pass (``attempt`` as from QuizService.attempt_by_code)."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    font = reportlab_font()
    code = attempt["cert_code"]
    out = io.BytesIO()
    width, height = landscape(A4)
    pdf = canvas.Canvas(out, pagesize=(width, height))
    pdf.setTitle(f"{TITLE} {code}")
    pdf.setAuthor("质量通")
    pdf.setLineWidth(2)
    pdf.rect(30, 30, width - 60, height - 60)
    pdf.setFont(font, 28)
    pdf.drawCentredString(width / 2, height - 100, TITLE)
    campaign = attempt.get("campaign") or attempt.get("quiz") or ""
    window = f"（{attempt['starts_on']} 至 {attempt['ends_on']}）" if attempt.get("starts_on") else ""
    position = attempt.get("position") or "—"
    lines = [
        f"姓名：{attempt.get('person_name') or '—'}",
        f"工作单位：{attempt.get('employer') or '—'}    岗位：{position}",
    ]
    if attempt.get("reg_no"):
        lines.append(f"注册号：{attempt['reg_no']}")
    lines += [
        f"培训活动：{campaign}{window}",
        f"培训内容：{content_of(attempt)}"[:60],
        f"考核结果：{attempt['score']} 分，合格    继续教育学时：{float(attempt['credits']):g} 学时",
        f"完成日期：{localtime.show_date(attempt['finished_at'], timezone)}",
        f"验证码：{code}",
    ]
    pdf.setFont(font, 15)
    for n, line in enumerate(lines):
        pdf.drawString(80, height - 160 - 32 * n, line)
    link = verify_link(bot_username, code)
    if link:
        size = 150
        pdf.drawImage(ImageReader(io.BytesIO(_qr_png(link))), width - 80 - size, 90, size, size)
    pdf.setFont(font, 11)
    pdf.drawString(80, 70, how_to_verify(bot_username, code))
    pdf.drawString(80, 54, "本证明由质量通根据测验记录生成；记录与证明信息以核验结果为准。")
    pdf.showPage()
    pdf.save()
    return out.getvalue()
