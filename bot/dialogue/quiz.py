"""The quiz conversation: /quiz, /practice, /review, /profile, /myscore, /leaderboard, /certificate, /verify,
answers (poll votes, tick buttons, typed letters) and timeouts. Private chats only (core routes)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import localtime
from bot.dialogue.profile_flow import ProfileFlow
from bot.dialogue.replies import Attachment, Block, Button, PollSpec, Reply
from bot.quiz import profiles
from bot.quiz.certificate import certificate_pdf, record_lines, verify_link
from bot.quiz.engine import Outcome, ProfileNeeded, QuizError, QuizService, Step
from bot.quiz.ranking import leaderboard

if TYPE_CHECKING:
    from bot.dialogue.core import Dialogue, Incoming

log = logging.getLogger(__name__)
ARTICLE_QUOTE_LIMIT = 300
REVIEW_LIMIT = 10


def _letters(indices: list[int] | tuple[int, ...]) -> str:
    return "、".join(chr(65 + i) for i in indices) or "未作答"


class QuizDialogue:
    """Quiz commands and answers; ``dialogue`` gives the store, settings, knowledge base and bot name."""

    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self._ticked: dict[tuple[int, int], set[int]] = {}
        self.profile_flow = ProfileFlow(self._save_profile)

    def _save_profile(self, user_id: int, name: str, employer: str, position: str, reg_no: str) -> None:
        if self.service is not None:
            self.service.profiles.save(user_id, name, employer, position, reg_no)

    def guiding(self, user_id: int) -> bool:
        """Whether the user is half-way through the guided profile (their next text is an answer to it)."""
        return self.service is not None and self.profile_flow.active(user_id)

    def on_guided_text(self, who: Incoming, text: str) -> Reply:
        return self.profile_flow.on_text(who.user_id, text)

    @property
    def service(self) -> QuizService | None:
        return self.dialogue.quiz

    @property
    def settings(self):
        return self.dialogue.kb.settings

    def _tz(self) -> str:
        return self.settings.timezone

    # starting -----------------------------------------------------------------------------------
    def cmd_quiz(self, who: Incoming, args: str, practice: bool = False) -> Reply:
        service = self.service
        if service is None:
            return Reply.text("本服务未启用测验。")
        user = self.dialogue.store.user(who.user_id) or {}
        before = service.in_progress(who.user_id)
        try:
            step = service.start(who.user_id, role=user.get("unit", ""), topic=args, practice=practice)
        except ProfileNeeded:
            return self._ask_profile()
        except QuizError as exc:
            return Reply.text(str(exc))
        if before is not None and before.attempt_id == step.attempt_id:
            intro = "继续您未完成的" + ("练习。" if step.practice else "测验。")
        elif step.practice:
            campaign = service.campaign()
            why = "" if practice or campaign else "当前没有进行中的培训活动，本次为练习。"
            intro = (f"{why}练习：共 {step.total} 题（先出您以前答错的题），每题 {self.settings.quiz_open_period} 秒；"
                     "不计学时，不出证明。")
        else:
            campaign = service.campaign()
            rules = campaign.rules  # type: ignore[union-attr]
            intro = (f"{campaign.name}：共 {step.total} 题，每题 {self.settings.quiz_open_period} 秒，"  # type: ignore[union-attr]
                     f"{rules.pass_mark} 分合格，首次合格计 {rules.credits:g} 学时。"
                     f"本次记录登记为：{service.profiles.get(who.user_id).describe()}。")  # type: ignore[union-attr]
        return Reply([Block(intro)], poll=self.poll_spec(step))

    def cmd_practice(self, who: Incoming, args: str) -> Reply:
        service = self.service
        if service is not None:
            current = service.in_progress(who.user_id)
            if current is not None and not current.practice:
                return Reply([Block("您有一次计学时的测验还没答完，请先完成它。")], poll=self.poll_spec(current))
        return self.cmd_quiz(who, args, practice=True)

    def _ask_profile(self) -> Reply:
        text = (f"本次测验计入继续教育学时，需要先登记实名信息（只需一次）。\n{profiles.CONSENT}\n"
                f"同意请点“同意并登记”逐项填写，或直接发送：{profiles.USAGE}\n不想登记也可以先练习（不计学时）。")
        return Reply.text(text, [[Button("同意并登记", "pf:consent")], [Button("先练习（不计学时）", "quiz:practice")]])

    def cmd_profile(self, who: Incoming, args: str) -> Reply:
        service = self.service
        if service is None:
            return Reply.text("本服务未启用测验。")
        current = service.profiles.get(who.user_id)
        if not args:
            head = f"您登记的信息：{current.describe()}。\n如需修改，" if current else "您还没有登记实名信息。\n登记请"
            return Reply.text(f"{head}发送：{profiles.USAGE}，或点“同意并登记”逐项填写。\n{profiles.CONSENT}\n"
                              "撤回登记：/profile 删除", [[Button("同意并登记", "pf:consent")]])
        if args.strip() in {"删除", "撤回", "delete"}:
            removed = service.profiles.delete(who.user_id)
            return Reply.text("已删除您的登记信息；已有的测验记录和证明保留当时的信息。此后的测验为练习，不计学时。"
                              if removed else "您没有登记过实名信息。")
        user = self.dialogue.store.user(who.user_id) or {}
        try:
            name, employer, position, reg_no = profiles.parse(args, user.get("role", ""))
        except profiles.ProfileError as exc:
            return Reply.text(str(exc))
        saved = service.profiles.save(who.user_id, name, employer, position, reg_no)
        verb = "已更新" if current else "已登记"
        return Reply.text(f"{verb}：{saved.describe()}。\n以后每次测验都会记下当时的这些信息，之后修改不影响已有记录。"
                          f"\n发送 /quiz 开始测验。\n（{profiles.CONSENT}）")

    # asking and answering -----------------------------------------------------------------------
    def poll_spec(self, step: Step, selected: tuple[int, ...] = ()) -> PollSpec:
        q = step.question
        if self.service is not None:
            self.service.mark_asked(step.attempt_id, step.index)
        label = "练习 " if step.practice else ""
        text = f"（{label}{step.index + 1}/{step.total}）{q.question}"
        return PollSpec(step.attempt_id, step.index, step.total, text, q.options, q.answer, q.type == "multiple",
                        q.explanation, self.settings.quiz_open_period, selected)

    def on_answer(self, who: Incoming, attempt_id: int, index: int, chosen: list[int], seconds: float = 0.0,
                  announce: bool = True) -> Reply | None:
        """An answer (options as shown); None when it does not count: a duplicate, a late answer, or someone
        other than the attempt's owner (a forwarded poll). ``announce=False`` leaves out the verdict, for
        front ends whose quiz poll shows it already."""
        if self.service is None:
            return None
        outcome = self.service.answer(attempt_id, index, chosen, seconds, user_id=who.user_id)
        if outcome.foreign:
            log.info("answer by %s to attempt %s ignored: not the owner", who.user_id, attempt_id)
        if not outcome.recorded:
            return None
        self._ticked.pop((attempt_id, index), None)
        reply = self._after_answer(outcome, index, timed_out=False)
        if not announce and outcome.next is not None:
            reply.blocks = []
        return reply

    def on_timeout(self, attempt_id: int, index: int) -> Reply | None:
        """The question's time ran out: it counts as wrong and the next one follows."""
        if self.service is None:
            return None
        outcome = self.service.answer(attempt_id, index, [], float(self.settings.quiz_open_period))
        if not outcome.recorded:
            return None
        return self._after_answer(outcome, index, timed_out=True)

    def _after_answer(self, outcome: Outcome, index: int, timed_out: bool) -> Reply:
        question = outcome.question
        letters = _letters(question.answer) if question else ""
        if timed_out:
            verdict = f"⏰ 第 {index + 1} 题超时。正确答案：{letters}"
        elif outcome.correct:
            verdict = f"✅ 第 {index + 1} 题回答正确。"
        else:
            verdict = f"❌ 第 {index + 1} 题答错了，正确答案：{letters}"
        blocks = [Block(verdict)]
        if question and (timed_out or not outcome.correct):
            blocks.append(Block(f"{question.explanation}（{question.citation}）"))
        if outcome.next is not None:
            return Reply(blocks, poll=self.poll_spec(outcome.next))
        attempt = outcome.finished or {}
        passed = bool(attempt.get("passed"))
        score = f"答对 {attempt.get('correct')}/{attempt.get('total')} 题，得分 {attempt.get('score')}"
        if attempt.get("mode") == "practice":
            blocks.append(Block(f"练习结束：{score}（练习不计学时）。"))
        else:
            result = f"合格，获得 {attempt.get('credits', 0):g} 学时。" if passed else "未合格。"
            if passed and not attempt.get("credits"):
                result = "合格（本活动的学时已在此前合格时计入）。"
            blocks.append(Block(f"测验结束：{score}，{result}"))
        if passed and attempt.get("cert_code"):
            blocks.append(Block(f"合格证明验证码：{attempt['cert_code']}。发送 /certificate 下载证明。"))
        if attempt.get("correct", 0) < attempt.get("total", 0):
            blocks.append(Block("发送 /review 查看答错的题和条文，/practice 针对错题练习。"))
        return Reply(blocks)

    def on_button(self, who: Incoming, kind: str, value: str) -> Reply:
        if kind == "quiz" and value == "practice":
            return self.cmd_practice(who, "")
        if kind == "pf":
            if value == "consent":
                return self.profile_flow.start(who.user_id)
            return self.profile_flow.on_button(who.user_id, value)
        return self._multiple_choice(who, kind, value)

    def _multiple_choice(self, who: Incoming, kind: str, value: str) -> Reply:
        parts = value.split(":")
        if not all(p.isdigit() for p in parts) or len(parts) < 2 or self.service is None:
            return Reply.text("这个按钮已失效。")
        attempt_id, index = int(parts[0]), int(parts[1])
        step = self.service.in_progress(who.user_id)
        if step is None or (step.attempt_id, step.index) != (attempt_id, index):
            return Reply.text("这道题已经作答或已超时。")
        ticked = self._ticked.setdefault((attempt_id, index), set())
        if kind == "mq" and len(parts) == 3:
            ticked.symmetric_difference_update({int(parts[2])})
            poll = self.poll_spec(step, tuple(sorted(ticked)))
            return Reply([Block(poll.question + "（多选，选好后提交）")], poll.toggle_buttons(), edit=True)
        if not ticked:
            return Reply.text("请至少选择一项再提交。")
        return self.on_answer(who, attempt_id, index, sorted(ticked)) or Reply.text("这道题已经作答。")

    # looking back -------------------------------------------------------------------------------
    def cmd_review(self, who: Incoming, args: str) -> Reply:
        service = self.service
        if service is None:
            return Reply.text("本服务未启用测验。")
        found = service.review(who.user_id)
        if found is None:
            return Reply.text("您还没有完成过测验。发送 /quiz 开始。")
        attempt, missed = found
        when = localtime.show(attempt["finished_at"], self._tz())
        if not missed:
            return Reply.text(f"您 {when} 完成的{attempt['quiz']}全部答对，没有错题。")
        blocks = [Block(f"您 {when} 完成的{attempt['quiz']}答错 {len(missed)} 题"
                        + (f"（先列出 {REVIEW_LIMIT} 题）" if len(missed) > REVIEW_LIMIT else "") + "：")]
        for index, question, chosen in missed[:REVIEW_LIMIT]:
            options = "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(question.options))
            blocks.append(Block(f"第 {index + 1} 题：{question.question}\n{options}\n"
                                f"您的答案：{_letters(chosen)}；正确答案：{_letters(question.answer)}", "text"))
            blocks.append(Block(f"解析：{question.explanation}"))
            blocks.append(Block(question.citation, "heading"))
            article = self._article(question.doc, question.loc)
            if article:
                blocks.append(Block(article, "quote"))
        blocks.append(Block("发送 /practice 先练这些错题（练习不计学时）。"))
        return Reply(blocks)

    def _article(self, doc: str, loc: str) -> str:
        """The article a question cites, quoted (shortened), when the index has it."""
        try:
            snapshot = self.dialogue.kb.retriever().snapshot
            text = snapshot.article_text(doc, loc)
        except Exception:  # no index yet, or an article that is no longer indexed
            log.debug("article %s %s not available", doc, loc, exc_info=True)
            return ""
        if not text:
            return ""
        return text if len(text) <= ARTICLE_QUOTE_LIMIT else text[:ARTICLE_QUOTE_LIMIT] + "……"

    def cmd_myscore(self, who: Incoming, args: str) -> Reply:
        service = self.service
        if service is None:
            return Reply.text("本服务未启用测验。")
        history = service.history(who.user_id)
        if not history:
            return Reply.text("您还没有完成过测验。发送 /quiz 开始。")
        lines = [f"您的测验记录（共 {len(history)} 次）："]
        credits: dict[str, float] = {}
        for row in history:
            when = localtime.show(row["finished_at"], self._tz())
            if row.get("mode") == "practice":
                lines.append(f"· {when}  练习 {row['score']} 分")
                continue
            mark = "合格" if row["passed"] else "未合格"
            revoked = row.get("revoked_at")
            code = f"，验证码 {row['cert_code']}" + ("（已撤销）" if revoked else "") if row["cert_code"] else ""
            lines.append(f"· {when}  {row['quiz']} {row['score']} 分，{mark}{code}")
            credits[row["quiz"]] = credits.get(row["quiz"], 0.0) + (0.0 if revoked else float(row["credits"]))
        for name, total in credits.items():
            lines.append(f"{name}：继续教育学时 {total:g}")
        lines.append(f"累计继续教育学时：{sum(credits.values()):g}")
        return Reply.text("\n".join(lines))

    def cmd_leaderboard(self, who: Incoming, args: str) -> Reply:
        store = self.dialogue.store
        if args in {"off", "退出", "不参加"}:
            store.set_profile(who.user_id, leaderboard=0)
            return Reply.text("已将您移出排行榜。发送 /leaderboard on 可重新加入。")
        if args in {"on", "加入", "参加"}:
            store.set_profile(who.user_id, leaderboard=1)
            return Reply.text("已将您加入排行榜：显示打码的姓名（如 张*）、单位和最高分。发送 /leaderboard off 退出。")
        service = self.service
        campaign = service.campaign() if service else None
        people, employers = leaderboard(store, campaign.id if campaign else None)
        opted = (store.user(who.user_id) or {}).get("leaderboard")
        hint = "发送 /leaderboard off 退出排行榜。" if opted else "排行榜需自愿加入：发送 /leaderboard on 加入。"
        if not people:
            return Reply.text(f"排行榜上还没有人。{hint}")
        title = f"{campaign.name}排行" if campaign else "测验排行"
        lines = [f"{title}（仅显示自愿加入的人，姓名打码）："]
        for n, p in enumerate(people, start=1):
            employer = p["employer"] or "未填单位"
            lines.append(f"{n}. {p['masked']}（{employer}）最高 {p['best']} 分，{p['credits']:g} 学时")
        if employers:
            lines.append("单位排行（平均最高分）：")
            lines.extend(f"{n}. {e['employer']}：{e['average']} 分，{e['people']} 人"
                         for n, e in enumerate(employers, start=1))
        lines.append(hint)
        return Reply.text("\n".join(lines))

    # certificates -------------------------------------------------------------------------------
    def cmd_certificate(self, who: Incoming, args: str) -> Reply:
        service = self.service
        latest = service.latest_certificate(who.user_id) if service else None
        if latest is None:
            return Reply.text("您还没有合格的计学时测验记录（练习不出证明）。")
        attempt = service.attempt_by_code(latest["cert_code"])  # type: ignore[union-attr]
        code = attempt["cert_code"]
        pdf = certificate_pdf(attempt, self._tz(), self.dialogue.bot_username)
        link = verify_link(self.dialogue.bot_username, code)
        text = f"合格证明见附件。验证码：{code}" + (f"\n核验链接：{link}" if link else "")
        return Reply([Block(text)], attachments=[Attachment(f"certificate-{code}.pdf", pdf, f"验证码：{code}")])

    def cmd_verify(self, who: Incoming, args: str) -> Reply:
        """Anyone may check a code: every field of the record, or that it is unknown or revoked."""
        code = args.strip()
        if not code:
            return Reply.text("请发送 /verify 验证码，例如 /verify ZLT-7K3Q-X9MD-2BWR")
        attempt = self.service.attempt_by_code(code) if self.service else None
        if attempt is None:
            return Reply.text(f"验证码 {code[:40]} 不存在：没有对应的合格记录。请核对验证码（不区分大小写）。")
        lines = record_lines(attempt, self._tz())
        return Reply.text("\n".join(lines))
