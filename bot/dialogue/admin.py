"""The admin conversation: /reindex, /stats, /export, /quizstats, /campaign, /revoke and document uploads.
Admins only, in their private chat (core routes)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.dialogue.replies import Attachment, Block, Reply
from bot.ingest import IngestError, load_document
from bot.quiz import charts, export, itemstats
from bot.quiz.campaigns import CampaignError, parse_overrides, parse_window
from bot.reindex_process import reindex_in_child
from bot.retrieval.indexer import IndexBusy

if TYPE_CHECKING:
    from bot.dialogue.core import Dialogue, Incoming

log = logging.getLogger(__name__)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_SUFFIXES = {".md", ".txt", ".docx", ".pdf"}
CAMPAIGN_USAGE = ("/campaign 查看活动；/campaign open 名称@2026-09-01..2026-09-30 [pass=60 questions=20 attempts=3 "
                  "cooldown=10 credits=2 truefalse=0.2 form=fixed]；/campaign close [编号或名称]")


class AdminDialogue:
    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self._reindex_lock = threading.Lock()

    @property
    def settings(self):
        return self.dialogue.kb.settings

    # knowledge ----------------------------------------------------------------------------------
    def cmd_reindex(self, who: Incoming, args: str) -> Reply:
        return self.reindex()

    def cmd_stats(self, who: Incoming, args: str) -> Reply:
        stats = self.dialogue.store.stats()
        return Reply.text(
            f"用户 {stats['users']} 人；提问 {stats['questions']} 次，其中未找到答案 {stats['unanswered']} 次；"
            f"反馈 👍 {stats['feedback_up']} / 👎 {stats['feedback_down']}。"
        )

    def on_document(self, who: Incoming, filename: str, size: int, fetch: Callable[[], bytes]) -> Reply:
        """An admin adds or replaces a document; it is checked before it joins the knowledge."""
        upload_dir = self.dialogue.upload_dir
        name = Path(filename or "").name
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            return Reply.text(f"不支持的文件类型“{suffix or '无扩展名'}”。请上传 .md、.txt、.docx 或 .pdf 文件。")
        if size > MAX_UPLOAD_BYTES:
            return Reply.text("文件超过 20 MB，无法接收。")
        upload_dir.mkdir(parents=True, exist_ok=True)
        staging = upload_dir / f".incoming-{who.user_id}-{name}"
        try:
            staging.write_bytes(fetch())
            document = load_document(staging)
        except IngestError as exc:
            staging.unlink(missing_ok=True)
            return Reply.text(f"文件“{name}”无法使用：{exc}。索引没有改变。")
        except Exception:
            staging.unlink(missing_ok=True)
            log.exception("upload failed")
            return Reply.text(f"接收文件“{name}”时出错，索引没有改变。")
        target = upload_dir / name
        replaced = target.exists()
        staging.replace(target)
        reply = self.reindex()
        verb = "已替换" if replaced else "已加入"
        reply.blocks.insert(0, Block(f"{verb}《{document.title}》（{len(document.chunks)} 个条文块）。"))
        return reply

    def reindex(self) -> Reply:
        if not self._reindex_lock.acquire(blocking=False):
            return Reply.text("已有重建索引任务在进行，请稍后再试。")
        try:
            # The configured knowledge and the upload folder (KnowledgeBase.sources), built in a child process
            # at lower CPU priority: questions keep being answered meanwhile.
            report = reindex_in_child(self.dialogue.kb.settings)
            self.dialogue.kb.refresh()
        except IndexBusy:
            return Reply.text("已有重建索引任务在进行，请稍后再试。")
        except Exception:
            log.exception("re-index failed")
            return Reply.text("重建索引失败，旧索引继续使用。详情见服务器日志。")
        finally:
            self._reindex_lock.release()
        lines = [f"索引已更新为 {report.version}：{report.documents} 份资料，{report.chunks} 个条文块，"
                 f"用时 {report.seconds:.1f} 秒。"]
        lines.extend(f"已跳过 {Path(p).name}：{reason}" for p, reason in report.errors[:10])
        return Reply.text("\n".join(lines))

    # quiz records -------------------------------------------------------------------------------
    def _campaign_id(self, args: str) -> tuple[int | None, str]:
        """The campaign ``args`` names (none: every record), and how to call it."""
        service = self.dialogue.quiz
        if not args or service is None:
            return None, "全部"
        campaign = service.campaigns.find(args)
        if campaign is None:
            raise CampaignError(f"没有找到活动“{args}”。发送 /campaign 查看活动编号。")
        return campaign.id, campaign.name

    def cmd_export(self, who: Incoming, args: str) -> Reply:
        questions = self.dialogue.store.export_questions_csv(self.settings.timezone)
        attachments = [Attachment("questions.csv", questions, "提问记录")]
        if self.dialogue.quiz is not None:
            try:
                campaign_id, label = self._campaign_id(args)
            except CampaignError as exc:
                return Reply.text(str(exc))
            rows = export.attempt_rows(self.dialogue.store, self.settings.timezone, campaign_id=campaign_id)
            attachments.insert(0, Attachment("quiz_records.xlsx", export.to_xlsx(rows),
                                             f"测验记录（{label}，{len(rows)} 条）与单位汇总"))
        return Reply([Block("导出的记录见附件（时间为本地时间）。请妥善保管，内含个人信息。")], attachments=attachments)

    def cmd_quizstats(self, who: Incoming, args: str) -> Reply:
        service = self.dialogue.quiz
        if service is None:
            return Reply.text("本服务未启用测验。")
        try:
            campaign_id, label = self._campaign_id(args)
        except CampaignError as exc:
            return Reply.text(str(exc))
        if campaign_id is None and service.campaign() is not None:
            campaign_id, label = service.campaign().id, service.campaign().name  # type: ignore[union-attr]
        rows = export.attempt_rows(self.dialogue.store, self.settings.timezone, campaign_id=campaign_id)
        finished = [r for r in rows if r["credited"] and r["finished_ok"]]
        if not finished:
            return Reply.text(f"{label}：还没有完成的计学时测验。")
        analysis = itemstats.analyse(itemstats.attempt_marks(self.dialogue.store, campaign_id))
        lines = [f"{label}：完成测验 {len(finished)} 次，合格 {sum(r['passed'] for r in finished)} 次。"]
        test = analysis.test
        if test is not None:
            lines.append(f"题目分析基于 {test.attempts} 人的首次测验，平均得分率 {test.mean:.0f}%。")
            if test.cic is not None:
                quality = "良好" if test.cic > 75 else ("偏低" if test.cic < 64 else "尚可")
                lines.append(f"内部一致性系数（Cronbach α）{test.cic:.0f}%（{quality}），"
                             f"误差比 {test.error_ratio:.0f}%。")
            elif not test.fixed_form:
                lines.append("随机组卷：不计算整卷的内部一致性系数。")
        weak = [i for i in analysis.items if i.flags]
        bank = service.by_id
        lines.append("需要复查的题（难度指数＝答对比例，区分度＝题目与其余题得分的相关，%）："
                     if weak else "没有需要复查的题。")
        for item in sorted(weak, key=lambda i: i.facility)[:15]:
            di = f"{item.discrimination:.0f}" if item.discrimination is not None else "—"
            de = f"{item.efficiency:.0f}" if item.efficiency is not None else "—"
            text = bank[item.question_id].question[:30] if item.question_id in bank else ""
            lines.append(f"· {item.question_id} {text}：{item.attempts} 人作答，难度指数 {item.facility:.2f}，"
                         f"区分度 {di}，区分效率 {de}（{'、'.join(item.flags)}）")
        campaign = service.campaigns.get(campaign_id)
        pass_mark = campaign.rules.pass_mark if campaign else self.settings.quiz_pass_mark
        attachments = [
            Attachment("scores.png", charts.score_distribution_png([r["score"] for r in finished], pass_mark,
                                                                   f"{label}成绩分布"), "成绩分布"),
            Attachment("employers.png", charts.employer_pass_rate_png(export.employer_summary(rows),
                                                                      f"{label}各单位合格率"), "各单位合格率"),
        ]
        return Reply([Block("\n".join(lines))], attachments=attachments)

    # campaigns and certificates -----------------------------------------------------------------
    def cmd_campaign(self, who: Incoming, args: str) -> Reply:
        service = self.dialogue.quiz
        if service is None:
            return Reply.text("本服务未启用测验。")
        words = args.split()
        try:
            if not words or words[0] in {"list", "列表"}:
                return self._campaigns()
            if words[0] in {"open", "开启", "新建"}:
                return self._open(words[1:])
            if words[0] in {"close", "关闭", "结束"}:
                campaign = service.campaigns.find(" ".join(words[1:])) if len(words) > 1 else service.campaign()
                if campaign is None:
                    return Reply.text("没有找到要关闭的活动。发送 /campaign 查看活动编号。")
                closed = service.campaigns.close(campaign)
                return Reply.text(f"已关闭活动“{closed.name}”（编号 {closed.id}）。此后的测验为练习，直到开启新活动。")
        except CampaignError as exc:
            return Reply.text(str(exc))
        return Reply.text(CAMPAIGN_USAGE)

    def _campaigns(self) -> Reply:
        service = self.dialogue.quiz
        current = service.campaign()  # type: ignore[union-attr]
        lines = [f"当前活动：{current.describe()}" if current else "当前没有进行中的活动（测验为练习，不计学时）。"]
        for campaign in service.campaigns.all():  # type: ignore[union-attr]
            state = "进行中" if campaign.status == "open" else "已关闭"
            lines.append(f"· 编号 {campaign.id} [{state}] {campaign.describe()}")
        lines.append(CAMPAIGN_USAGE)
        return Reply.text("\n".join(lines))

    def _open(self, words: list[str]) -> Reply:
        """``名称@开始..结束`` or ``名称 开始..结束``, then settings."""
        service = self.dialogue.quiz
        head = [w for w in words if "=" not in w]
        window = " ".join(head) if "@" in " ".join(head) or len(head) < 2 else f"{' '.join(head[:-1])}@{head[-1]}"
        name, start, end = parse_window(window)
        overrides = parse_overrides([w for w in words if "=" in w])
        campaign = service.campaigns.open(name, start, end, source="admin", **overrides)  # type: ignore[union-attr]
        return Reply.text(f"已开启活动（编号 {campaign.id}）：{campaign.describe()}。日期按本地时间"
                          f"（{self.settings.timezone}）计算，含首尾两天。")

    def cmd_revoke(self, who: Incoming, args: str) -> Reply:
        service = self.dialogue.quiz
        code, _, reason = args.strip().partition(" ")
        if service is None or not code:
            return Reply.text("用法：/revoke 验证码 原因")
        attempt = service.revoke(code, reason)
        if attempt is None:
            return Reply.text(f"验证码 {code} 不存在。")
        return Reply.text(f"已撤销证明 {attempt['cert_code']}（{attempt['person_name']}，{attempt['employer']}）："
                          f"{attempt['revoked_reason']}。核验时将显示已撤销，其学时不再计入。")

