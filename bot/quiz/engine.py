"""Attempts: drawing questions, recording each answer exactly once (from the attempt's owner only), scoring,
per-campaign limits and credits, practice, and certificates."""

from __future__ import annotations

import json
import random
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.config import Settings
from bot.quiz import draw as drawing
from bot.quiz.bank import Question
from bot.quiz.campaigns import Campaign, Campaigns, practice_rules
from bot.quiz.draw import Rules
from bot.quiz.profiles import Profiles
from bot.storage import Store, now

QUIZ_NAME = "质量月培训测验"
PRACTICE = "练习"
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U


@dataclass(frozen=True)
class Step:
    """The question to put to a user next (as shown: options in this attempt's order)."""

    attempt_id: int
    index: int  # 0-based
    total: int
    question: Question
    practice: bool = False


@dataclass(frozen=True)
class Outcome:
    """What recording an answer did."""

    recorded: bool  # False: a duplicate, late or foreign answer; nothing changed
    correct: bool = False
    question: Question | None = None  # as shown
    next: Step | None = None
    finished: dict | None = None  # the attempt row, when this answer finished it
    foreign: bool = False  # someone other than the attempt's owner answered


class QuizError(Exception):
    """A quiz cannot start now; the message says why, in Chinese."""


class ProfileNeeded(QuizError):
    """A credited attempt needs the person's profile (and consent) first."""


def new_code() -> str:
    """An unguessable verification code: 60 random bits, e.g. ZLT-7K3Q-X9MD-2BWR."""
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"ZLT-{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def code_key(code: str) -> str:
    """What a reader typed (lower case, spaces, dashes, O for 0 …) reduced to the stored code without dashes."""
    code = re.sub(r"[\s_\-]", "", code.strip().upper())
    if not code.startswith("ZLT"):
        return ""
    return "ZLT" + code[3:].translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))[:32]


class QuizService:
    def __init__(self, store: Store, bank: list[Question], settings: Settings) -> None:
        self.store = store
        self.db = store.db
        self.settings = settings
        self.by_id = {q.id: q for q in bank}
        self.bank = bank
        self._lock = store.lock  # the store's: one connection, used by one thread at a time
        self.campaigns = Campaigns(store, settings)
        self.profiles = Profiles(store)
        self.campaigns.sync_env()

    # starting -----------------------------------------------------------------------------------
    def campaign(self, today: date | None = None) -> Campaign | None:
        """The campaign open now (local time), if any."""
        return self.campaigns.current(today)

    def campaign_open(self, today: date | None = None) -> bool:
        return self.campaign(today) is not None

    def in_progress(self, user_id: int) -> Step | None:
        row = self.store.one(
            "select * from quiz_attempts where user_id = ? and status = 'in_progress' order by id desc limit 1",
            [user_id])
        return self._step(row) if row else None

    def attempt(self, attempt_id: int) -> dict | None:
        return self.store.one("select * from quiz_attempts where id = ?", [attempt_id])

    def start(self, user_id: int, role: str = "", topic: str = "", seed: int | None = None,
              practice: bool = False) -> Step:
        """A new attempt's first question, or the current question of the attempt in progress.

        During a campaign a credited attempt needs the profile (ProfileNeeded) and keeps to the campaign's
        limits; outside one, and with ``practice``, the attempt is practice: no limits, no credits, earlier
        mistakes first.
        """
        with self._lock:
            current = self.in_progress(user_id)
            if current is not None:
                if current.practice and not practice and self.campaign() is not None:
                    self._abandon(current.attempt_id)  # leaving practice for the real thing
                else:
                    return current
            campaign = None if practice else self.campaign()
            rng = random.Random(seed)
            if campaign is None:
                rules = practice_rules(self.settings)
                first = tuple(self.missed_questions(user_id))[: rules.size // 2]
                questions = drawing.draw(self.bank, rules, rng, role, topic, first)
            else:
                rules = campaign.rules
                profile = self.profiles.get(user_id)
                if profile is None:
                    raise ProfileNeeded("本次测验计入继续教育学时，需要先登记实名信息。")
                self._check_limits(user_id, campaign)
                form_rng = random.Random(f"campaign-{campaign.id}") if rules.fixed_form else rng
                questions = drawing.draw(self.bank, rules, form_rng, "" if rules.fixed_form else role,
                                         "" if rules.fixed_form else topic)
            if not questions:
                raise QuizError("题库中没有符合条件的题目。")
            orders = [drawing.option_order(q, rng) for q in questions]
            frozen = profile.frozen() if campaign is not None else self._practice_person(user_id)
            with self.db.conn:
                table = self.db["quiz_attempts"].insert({
                    "user_id": user_id, "quiz": campaign.name if campaign else PRACTICE,
                    "campaign_id": campaign.id if campaign else None, "mode": "credited" if campaign else "practice",
                    "question_ids": json.dumps([q.id for q in questions]),
                    "questions": json.dumps([q.to_dict() for q in questions], ensure_ascii=False),
                    "orders": json.dumps(orders), "topic": topic,
                    "current": 0, "total": len(questions), "correct": 0, "score": 0, "passed": 0, "credits": 0.0,
                    "status": "in_progress", "cert_code": "", "started_at": now(), "finished_at": "",
                    "revoked_at": "", "revoked_reason": "", **frozen,
                })
            return self._step(self.attempt(int(table.last_pk)))  # type: ignore[arg-type]

    def _practice_person(self, user_id: int) -> dict[str, str]:
        profile = self.profiles.get(user_id)
        if profile:
            return profile.frozen()
        user = self.store.user(user_id) or {}
        return {"person_name": user.get("name", ""), "employer": "", "position": user.get("role", ""), "reg_no": ""}

    def _check_limits(self, user_id: int, campaign: Campaign) -> None:
        done = self.store.rows(
            "select * from quiz_attempts where user_id = ? and campaign_id = ? and mode = 'credited' "
            "and status = 'finished' order by id", [user_id, campaign.id])
        rules = campaign.rules
        if rules.attempts and len(done) >= rules.attempts:
            raise QuizError(f"您在“{campaign.name}”中已完成 {len(done)} 次测验，达到允许的次数。"
                            "发送 /practice 可以继续练习（不计学时）。")
        if done and rules.cooldown_minutes:
            last = datetime.fromisoformat(done[-1]["finished_at"])
            wait = last + timedelta(minutes=rules.cooldown_minutes) - datetime.now(UTC)
            if wait.total_seconds() > 0:
                raise QuizError(f"请 {int(wait.total_seconds() // 60) + 1} 分钟后再参加下一次测验。")

    def _abandon(self, attempt_id: int) -> None:
        with self.db.conn:
            self.db.execute("update quiz_attempts set status = 'abandoned', finished_at = ? where id = ? "
                            "and status = 'in_progress'", [now(), attempt_id])

    def draw(self, role: str, topic: str, rng: random.Random, rules: Rules | None = None) -> list[Question]:
        """The questions an attempt under ``rules`` (default: this deployment's) would draw."""
        return drawing.draw(self.bank, rules or practice_rules(self.settings), rng, role, topic)

    # answering ----------------------------------------------------------------------------------
    def answer(self, attempt_id: int, index: int, chosen: list[int], seconds: float = 0.0,
               user_id: int | None = None) -> Outcome:
        """Record the answer (options as shown) to question ``index``; only the first answer counts, and only
        from the attempt's owner when ``user_id`` is given."""
        with self._lock, self.db.conn:
            attempt = self.attempt(attempt_id)
            if attempt is None or attempt["status"] != "in_progress" or attempt["current"] != index:
                return Outcome(False)
            if user_id is not None and user_id != attempt["user_id"]:
                return Outcome(False, foreign=True)
            seconds = seconds or self._seconds_since_asked(attempt_id, index)
            order = self._orders(attempt)[index]
            question = self._questions(attempt)[index]
            original = drawing.to_original(order, chosen)
            correct = question.is_correct(original)
            inserted = self.db.execute(
                "insert or ignore into quiz_answers (attempt_id, idx, question_id, chosen, correct, seconds, "
                "answered_at) values (?, ?, ?, ?, ?, ?, ?)",
                [attempt_id, index, question.id, json.dumps(original), int(correct), round(seconds, 2), now()],
            ).rowcount
            if not inserted:
                return Outcome(False)
            shown = drawing.present(question, order)
            total_correct = attempt["correct"] + int(correct)
            if index + 1 < attempt["total"]:
                self.db.execute("update quiz_attempts set current = ?, correct = ? where id = ?",
                                [index + 1, total_correct, attempt_id])
                return Outcome(True, correct, shown, next=self._step({**attempt, "current": index + 1}))
            return Outcome(True, correct, shown, finished=self._finish(attempt, total_correct))

    def _finish(self, attempt: dict, total_correct: int) -> dict:
        campaign = self.campaigns.get(attempt.get("campaign_id"))
        rules = campaign.rules if campaign else practice_rules(self.settings)
        points = drawing.score(total_correct, attempt["total"])
        passed = drawing.passes(points, rules)
        credited = attempt.get("mode") == "credited" and campaign is not None
        earlier_pass = self.db.execute(
            "select count(*) from quiz_attempts where user_id = ? and campaign_id = ? and mode = 'credited' "
            "and passed = 1 and revoked_at = '' and id != ?",
            [attempt["user_id"], attempt.get("campaign_id"), attempt["id"]]).fetchone()[0] if credited else 0
        credits = rules.credits if credited and passed and not earlier_pass else 0.0
        code = new_code() if credited and passed else ""
        fields = {"current": attempt["total"], "correct": total_correct, "score": points, "passed": int(passed),
                  "credits": credits, "status": "finished", "cert_code": code, "finished_at": now()}
        self.db["quiz_attempts"].update(attempt["id"], fields)
        return {**attempt, **fields}

    @staticmethod
    def _questions(attempt: dict) -> list[Question]:
        """The questions as they were drawn (stored with the attempt, so restarts and re-indexing keep them)."""
        return [Question.from_dict(q) for q in json.loads(attempt["questions"])]

    @staticmethod
    def _orders(attempt: dict) -> list[tuple[int, ...] | None]:
        """The order each question's options were shown in (None: as stored, for attempts made before)."""
        raw = json.loads(attempt.get("orders") or "null")
        return [tuple(o) for o in raw] if raw else [None] * attempt["total"]

    def shown_questions(self, attempt: dict) -> list[Question]:
        return [drawing.present(q, o) for q, o in zip(self._questions(attempt), self._orders(attempt), strict=True)]

    def _step(self, attempt: dict) -> Step:
        index = attempt["current"]
        question = drawing.present(self._questions(attempt)[index], self._orders(attempt)[index])
        return Step(attempt["id"], index, attempt["total"], question, attempt.get("mode") == "practice")

    # polls (Telegram) ------------------------------------------------------------------------
    def remember_poll(self, poll_id: str, attempt_id: int, index: int, chat_id: int) -> None:
        """Which attempt and question a Telegram poll asks (kept in the database: survives a restart)."""
        with self._lock, self.db.conn:
            self.db["quiz_polls"].insert({"poll_id": poll_id, "attempt_id": attempt_id, "idx": index,
                                          "chat_id": chat_id, "sent_at": now()}, replace=True)

    def mark_asked(self, attempt_id: int, index: int) -> None:
        """Note when a question was put (the first time), to record how long the answer took."""
        with self._lock, self.db.conn:
            self.db.execute("insert or ignore into quiz_polls (poll_id, attempt_id, idx, chat_id, sent_at) "
                            "values (?, ?, ?, 0, ?)", [f"asked:{attempt_id}:{index}", attempt_id, index, now()])

    def _seconds_since_asked(self, attempt_id: int, index: int) -> float:
        with self._lock:
            row = self.db.execute("select sent_at from quiz_polls where poll_id = ?",
                                  [f"asked:{attempt_id}:{index}"]).fetchone()
        if not row:
            return 0.0
        return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(row[0])).total_seconds())

    def poll(self, poll_id: str) -> tuple[int, int] | None:
        row = self.store.one("select attempt_id, idx from quiz_polls where poll_id = ?", [poll_id])
        return (row["attempt_id"], row["idx"]) if row else None

    # records ------------------------------------------------------------------------------------
    def history(self, user_id: int) -> list[dict]:
        return self.store.rows(
            "select * from quiz_attempts where user_id = ? and status = 'finished' order by id", [user_id])

    def latest_certificate(self, user_id: int) -> dict | None:
        """The latest credited pass whose certificate stands."""
        return self.store.one(
            "select * from quiz_attempts where user_id = ? and mode = 'credited' and passed = 1 and cert_code != '' "
            "and revoked_at = '' order by id desc limit 1", [user_id])

    def attempt_by_code(self, code: str) -> dict | None:
        """The credited pass behind a verification code, with its campaign (None: unknown code)."""
        key = code_key(code)
        if not key:
            return None
        return self.store.one(
            "select a.*, c.name as campaign, c.starts_on, c.ends_on from quiz_attempts a "
            "left join campaigns c on c.id = a.campaign_id where a.cert_code != '' "
            "and replace(a.cert_code, '-', '') = ? and a.passed = 1", [key])

    def revoke(self, code: str, reason: str) -> dict | None:
        """Withdraw a certificate: /verify then says so, and its credits no longer count."""
        attempt = self.attempt_by_code(code)
        if attempt is None:
            return None
        with self._lock, self.db.conn:
            self.db.execute("update quiz_attempts set revoked_at = ?, revoked_reason = ? where id = ?",
                            [attempt["revoked_at"] or now(), reason.strip() or "管理员撤销", attempt["id"]])
        return self.attempt_by_code(code)

    # learning from mistakes ---------------------------------------------------------------------
    def review(self, user_id: int) -> tuple[dict, list[tuple[int, Question, list[int]]]] | None:
        """The latest finished attempt and its missed questions: (index, question as shown, options chosen
        as shown)."""
        attempt = self.store.one("select * from quiz_attempts where user_id = ? and status = 'finished' "
                                 "order by id desc limit 1", [user_id])
        if attempt is None:
            return None
        orders = self._orders(attempt)
        questions = self._questions(attempt)
        answers = {r["idx"]: r for r in self.store.rows(
            "select idx, chosen, correct from quiz_answers where attempt_id = ?", [attempt["id"]])}
        missed = []
        for index, question in enumerate(questions):
            row = answers.get(index)
            if row is None or row["correct"]:
                continue
            chosen = drawing.to_shown(orders[index], json.loads(row["chosen"]))
            missed.append((index, drawing.present(question, orders[index]), chosen))
        return attempt, missed

    def missed_questions(self, user_id: int) -> list[Question]:
        """Questions the user got wrong and has not answered right since, the oldest first (as drawn then, so
        a question generated from an article that was later re-indexed still exists)."""
        rows = self.store.rows(
            "select a.questions, q.idx, q.question_id, q.correct from quiz_answers q "
            "join quiz_attempts a on a.id = q.attempt_id where a.user_id = ? order by q.answered_at, q.idx",
            [user_id])
        latest: dict[str, tuple[bool, Question]] = {}
        parsed: dict[str, list] = {}
        for row in rows:
            drawn = parsed.setdefault(row["questions"], json.loads(row["questions"]))
            question = Question.from_dict(drawn[row["idx"]])
            latest.pop(row["question_id"], None)
            latest[row["question_id"]] = (bool(row["correct"]), question)
        return [q for right, q in latest.values() if not right]
