"""Records in SQLite (sqlite-utils, WAL, migrations): users, question log, feedback, processed updates."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("zhiliangtong")


@migrations()
def m001_users_questions_feedback(db: sqlite_utils.Database) -> None:
    db["users"].create(
        {"id": int, "name": str, "username": str, "unit": str, "role": str, "leaderboard": int,
         "created_at": str, "updated_at": str},
        pk="id",
    )
    db["questions"].create(
        {"id": int, "user_id": int, "question": str, "answered": int, "mode": str, "top_doc": str,
         "top_loc": str, "answer": str, "asked_at": str},
        pk="id",
    )
    db["questions"].create_index(["user_id"])
    db["feedback"].create(
        {"question_id": int, "user_id": int, "vote": int, "question": str, "answer": str, "at": str},
        pk=("question_id", "user_id"),
    )
    db["updates"].create({"update_id": int, "at": str}, pk="update_id")


@migrations()
def m002_quiz(db: sqlite_utils.Database) -> None:
    db["quiz_attempts"].create(
        {"id": int, "user_id": int, "quiz": str, "question_ids": str, "current": int, "total": int,
         "correct": int, "score": int, "passed": int, "credits": float, "status": str, "cert_code": str,
         "started_at": str, "finished_at": str},
        pk="id",
    )
    db["quiz_attempts"].create_index(["user_id", "status"])
    db["quiz_answers"].create(
        {"attempt_id": int, "idx": int, "question_id": str, "chosen": str, "correct": int, "seconds": float,
         "answered_at": str},
        pk=("attempt_id", "idx"),
    )
    db["quiz_polls"].create(
        {"poll_id": str, "attempt_id": int, "idx": int, "chat_id": int, "sent_at": str}, pk="poll_id",
    )


@migrations()
def m003_attempt_questions(db: sqlite_utils.Database) -> None:
    # The questions an attempt asks, as asked: a later change of the bank or the index cannot alter them.
    db["quiz_attempts"].add_column("questions", str)


@migrations()
def m004_campaigns_profiles(db: sqlite_utils.Database) -> None:
    # Campaigns are data: limits and credits count per campaign; attempts outside one are practice.
    db["campaigns"].create(
        {"id": int, "name": str, "starts_on": str, "ends_on": str, "pass_mark": int, "size": int, "attempts": int,
         "cooldown_minutes": float, "credits": float, "truefalse_share": float, "fixed_form": int, "status": str,
         "source": str, "created_at": str, "closed_at": str},
        pk="id",
    )
    # The person behind the records (real name, employer …), given once with consent; attempts freeze a copy.
    db["profiles"].create(
        {"user_id": int, "real_name": str, "employer": str, "position": str, "reg_no": str, "consent_at": str,
         "updated_at": str},
        pk="user_id",
    )
    attempts = db["quiz_attempts"]
    for column, kind in (("campaign_id", int), ("mode", str), ("orders", str), ("topic", str),
                         ("person_name", str), ("employer", str), ("position", str), ("reg_no", str),
                         ("revoked_at", str), ("revoked_reason", str)):
        attempts.add_column(column, kind)
    # Earlier attempts were all credited, in no campaign; freeze what their certificates showed.
    db.execute("update quiz_attempts set mode = 'credited', orders = '', topic = '', revoked_at = '', "
               "revoked_reason = '', reg_no = '', person_name = coalesce((select name from users u "
               "where u.id = quiz_attempts.user_id), ''), employer = coalesce((select unit from users u "
               "where u.id = quiz_attempts.user_id), ''), position = coalesce((select role from users u "
               "where u.id = quiz_attempts.user_id), '')")
    attempts.create_index(["cert_code"])
    attempts.create_index(["campaign_id", "user_id"])
    # The leaderboard becomes opt-in: nobody chose to be on it before.
    db.execute("update users set leaderboard = 0")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """A small interface over the records; safe to call from several threads.

    One connection serves every thread, so every use of it — reads too — holds ``lock``: sqlite-utils
    wraps statements in savepoints that interleaving threads would otherwise break.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
        self.db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL keeps every committed transaction across a crash or kill -9 of the process;
        # only a power loss may drop the last ones.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.lock = threading.RLock()
        with self.lock:
            migrations.apply(self.db)

    # users
    def touch_user(self, user_id: int, name: str = "", username: str = "") -> dict:
        with self.lock, self.db.conn:
            existing = self.user(user_id)
            if existing is None:
                row = {"id": user_id, "name": name, "username": username, "unit": "", "role": "",
                       "leaderboard": 0, "created_at": now(), "updated_at": now()}
                self.db["users"].insert(row)
                return row
            if name and (name != existing["name"] or username != existing["username"]):
                self.db["users"].update(user_id, {"name": name, "username": username, "updated_at": now()})
                existing.update(name=name, username=username)
            return existing

    def user(self, user_id: int) -> dict | None:
        return self.one("select * from users where id = ?", [user_id])

    def one(self, sql: str, params: list | None = None) -> dict | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        with self.lock:
            return list(self.db.query(sql, params or []))

    def set_profile(self, user_id: int, **fields: object) -> None:
        allowed = {k: v for k, v in fields.items() if k in {"unit", "role", "leaderboard"}}
        with self.lock, self.db.conn:
            self.db["users"].update(user_id, {**allowed, "updated_at": now()})

    # questions and feedback
    def log_question(self, user_id: int, question: str, answered: bool, mode: str, top_doc: str, top_loc: str,
                     answer: str) -> int:
        with self.lock, self.db.conn:
            table = self.db["questions"].insert({
                "user_id": user_id, "question": question, "answered": int(answered), "mode": mode,
                "top_doc": top_doc, "top_loc": top_loc, "answer": answer, "asked_at": now(),
            })
            return int(table.last_pk)

    def set_answer(self, question_id: int, mode: str, answer: str) -> None:
        """Record what was finally said (the LLM's summary followed the extractive answer)."""
        with self.lock, self.db.conn:
            self.db["questions"].update(question_id, {"mode": mode, "answer": answer})

    def question(self, question_id: int) -> dict | None:
        return self.one("select * from questions where id = ?", [question_id])

    def add_feedback(self, question_id: int, user_id: int, vote: int) -> bool:
        """Store 👍 (1) or 👎 (-1); a second vote by the same user replaces the first."""
        asked = self.question(question_id)
        if asked is None:
            return False
        with self.lock, self.db.conn:
            self.db["feedback"].upsert({
                "question_id": question_id, "user_id": user_id, "vote": vote, "question": asked["question"],
                "answer": asked["answer"], "at": now(),
            }, pk=("question_id", "user_id"))
        return True

    def prune_questions(self, days: int) -> int:
        """Delete question logs (and their feedback) older than ``days``; quiz and education records stay.

        Returns how many questions were deleted.
        """
        cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds")
        with self.lock, self.db.conn:
            self.db.execute("delete from feedback where question_id in (select id from questions where asked_at < ?)",
                            [cutoff])
            return self.db.execute("delete from questions where asked_at < ?", [cutoff]).rowcount

    # duplicated deliveries
    def first_delivery(self, update_id: int) -> bool:
        """True the first time an update id is seen; False for a redelivery.

        Telegram keeps undelivered updates for 24 hours, so ids older than two days are forgotten.
        """
        with self.lock, self.db.conn:
            cursor = self.db.execute("insert or ignore into updates (update_id, at) values (?, ?)", [update_id, now()])
            if cursor.rowcount == 1 and update_id % 1000 == 0:
                cutoff = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="milliseconds")
                self.db.execute("delete from updates where at < ?", [cutoff])
            return cursor.rowcount == 1

    def stats(self) -> dict[str, int]:
        def one(sql: str) -> int:
            with self.lock:
                return int(self.db.execute(sql).fetchone()[0] or 0)

        return {
            "users": one("select count(*) from users"),
            "questions": one("select count(*) from questions"),
            "unanswered": one("select count(*) from questions where answered = 0"),
            "feedback_up": one("select count(*) from feedback where vote > 0"),
            "feedback_down": one("select count(*) from feedback where vote < 0"),
        }

    def export_questions_csv(self, timezone: str = "UTC") -> bytes:
        """The question log, times in ``timezone``; text that a spreadsheet would run as a formula is
        neutralised (a leading apostrophe)."""
        import csv
        import io

        from bot.localtime import show

        def cell(value: object) -> object:
            return "'" + value if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")) \
                else value

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "user_id", "asked_at", "question", "answered", "mode", "top_doc", "top_loc"])
        for row in self.rows("select * from questions order by id"):
            writer.writerow([cell(v) for v in (row["id"], row["user_id"], show(row["asked_at"], timezone, True),
                                               row["question"], row["answered"], row["mode"], row["top_doc"],
                                               row["top_loc"])])
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")
