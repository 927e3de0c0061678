"""Attempts: drawing questions, recording each answer exactly once, scoring, credits and certificates."""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.config import Settings
from bot.quiz.bank import Question
from bot.storage import Store, now

QUIZ_NAME = "质量月培训测验"


@dataclass(frozen=True)
class Step:
    """The question to put to a user next."""

    attempt_id: int
    index: int  # 0-based
    total: int
    question: Question


@dataclass(frozen=True)
class Outcome:
    """What recording an answer did."""

    recorded: bool  # False: a duplicate or late answer, nothing changed
    correct: bool = False
    question: Question | None = None
    next: Step | None = None
    finished: dict | None = None  # the attempt row, when this answer finished it


class QuizError(Exception):
    """A quiz cannot start now; the message says why, in Chinese."""


class QuizService:
    def __init__(self, store: Store, bank: list[Question], settings: Settings) -> None:
        self.store = store
        self.db = store.db
        self.settings = settings
        self.by_id = {q.id: q for q in bank}
        self.bank = bank
        self._lock = store.lock  # the store's: one connection, used by one thread at a time

    # starting -----------------------------------------------------------------------------------
    def campaign_open(self, today: date | None = None) -> bool:
        window = self.settings.quiz_campaign.strip()
        if not window:
            return True
        start, _, end = window.partition("..")
        today = today or datetime.now(UTC).date()
        return date.fromisoformat(start.strip()) <= today <= date.fromisoformat(end.strip())

    def in_progress(self, user_id: int) -> Step | None:
        row = self.store.one(
            "select * from quiz_attempts where user_id = ? and status = 'in_progress' order by id desc limit 1",
            [user_id])
        return self._step(row) if row else None

    def start(self, user_id: int, role: str = "", topic: str = "", seed: int | None = None) -> Step:
        """A new attempt's first question (or the current question of an attempt in progress)."""
        with self._lock:
            current = self.in_progress(user_id)
            if current is not None:
                return current
            if not self.campaign_open():
                raise QuizError(f"测验只在活动期间（{self.settings.quiz_campaign}）开放。")
            finished = self.store.rows(
                "select * from quiz_attempts where user_id = ? and status = 'finished' order by id", [user_id])
            if len(finished) >= self.settings.quiz_attempts:
                raise QuizError(f"您已完成 {len(finished)} 次测验，达到本次活动允许的次数。")
            if finished:
                last = datetime.fromisoformat(finished[-1]["finished_at"])
                wait = last + timedelta(minutes=self.settings.quiz_cooldown_minutes) - datetime.now(UTC)
                if wait.total_seconds() > 0:
                    raise QuizError(f"请 {int(wait.total_seconds() // 60) + 1} 分钟后再参加下一次测验。")
            questions = self.draw(role, topic, random.Random(seed))
            if not questions:
                raise QuizError("题库中没有符合条件的题目。")
            with self.db.conn:
                table = self.db["quiz_attempts"].insert({
                    "user_id": user_id, "quiz": QUIZ_NAME, "question_ids": json.dumps([q.id for q in questions]),
                    "questions": json.dumps([q.to_dict() for q in questions], ensure_ascii=False),
                    "current": 0, "total": len(questions), "correct": 0, "score": 0, "passed": 0, "credits": 0.0,
                    "status": "in_progress", "cert_code": "", "started_at": now(), "finished_at": "",
                })
            return Step(int(table.last_pk), 0, len(questions), questions[0])

    def draw(self, role: str, topic: str, rng: random.Random) -> list[Question]:
        """N questions: the user's role and topic first, curated questions before generated ones."""
        size = self.settings.quiz_size
        pool = [q for q in self.bank if not topic or topic in q.topic]
        suited = [q for q in pool if role and role in q.roles]
        general = [q for q in pool if not q.roles or q not in suited]
        chosen: list[Question] = []
        for group in (suited, [q for q in general if not q.generated], [q for q in general if q.generated]):
            group = list(group)
            rng.shuffle(group)
            chosen.extend(q for q in group[: size - len(chosen)] if q not in chosen)
            if len(chosen) >= size:
                break
        rng.shuffle(chosen)
        return chosen[:size]

    # answering ----------------------------------------------------------------------------------
    def answer(self, attempt_id: int, index: int, chosen: list[int], seconds: float = 0.0) -> Outcome:
        """Record the answer to question ``index``; only the first answer to a question counts."""
        with self._lock, self.db.conn:
            rows = self.store.rows("select * from quiz_attempts where id = ?", [attempt_id])
            if not rows or rows[0]["status"] != "in_progress" or rows[0]["current"] != index:
                return Outcome(False)
            attempt = rows[0]
            seconds = seconds or self._seconds_since_asked(attempt_id, index)
            question = self._questions(attempt)[index]
            correct = question.is_correct(chosen)
            inserted = self.db.execute(
                "insert or ignore into quiz_answers (attempt_id, idx, question_id, chosen, correct, seconds, "
                "answered_at) values (?, ?, ?, ?, ?, ?, ?)",
                [attempt_id, index, question.id, json.dumps(sorted(set(chosen))), int(correct),
                 round(seconds, 2), now()],
            ).rowcount
            if not inserted:
                return Outcome(False)
            total_correct = attempt["correct"] + int(correct)
            if index + 1 < attempt["total"]:
                self.db.execute("update quiz_attempts set current = ?, correct = ? where id = ?",
                                [index + 1, total_correct, attempt_id])
                next_step = self._step({**attempt, "current": index + 1})
                return Outcome(True, correct, question, next=next_step)
            finished = self._finish(attempt, total_correct)
            return Outcome(True, correct, question, finished=finished)

    def _finish(self, attempt: dict, total_correct: int) -> dict:
        score = round(100 * total_correct / attempt["total"])
        passed = score >= self.settings.quiz_pass_mark
        earlier_pass = self.db.execute(
            "select count(*) from quiz_attempts where user_id = ? and passed = 1 and id != ?",
            [attempt["user_id"], attempt["id"]]).fetchone()[0]
        credits = self.settings.quiz_credits if passed and not earlier_pass else 0.0
        code = f"ZLT-{secrets.token_hex(3).upper()}-{secrets.token_hex(3).upper()}" if passed else ""
        fields = {"current": attempt["total"], "correct": total_correct, "score": score, "passed": int(passed),
                  "credits": credits, "status": "finished", "cert_code": code, "finished_at": now()}
        self.db["quiz_attempts"].update(attempt["id"], fields)
        return {**attempt, **fields}

    @staticmethod
    def _questions(attempt: dict) -> list[Question]:
        """The questions as they were drawn (stored with the attempt, so restarts and re-indexing keep them)."""
        return [Question.from_dict(q) for q in json.loads(attempt["questions"])]

    def _step(self, attempt: dict) -> Step:
        question = self._questions(attempt)[attempt["current"]]
        return Step(attempt["id"], attempt["current"], attempt["total"], question)

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

    # reports ------------------------------------------------------------------------------------
    def history(self, user_id: int) -> list[dict]:
        return self.store.rows(
            "select * from quiz_attempts where user_id = ? and status = 'finished' order by id", [user_id])

    def attempt_by_code(self, code: str) -> dict | None:
        return self.store.one(
            "select a.*, u.name, u.unit, u.role from quiz_attempts a left join users u on u.id = a.user_id "
            "where a.cert_code = ?", [code.strip().upper()])
