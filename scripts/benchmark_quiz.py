"""Quiz load benchmark: many users take a credited quiz at once through the stand-in Bot API against the real
bot process (``python -m bot serve``), inside a campaign, each after giving a profile. Checks that every
answer is recorded exactly once and that the export matches; reports p50/p95 from an answer to the next
question.

Usage: ``python scripts/benchmark_quiz.py [--users 200] [--questions N] [--think 10] [--index DIR]``
(``--questions`` defaults to the bot's default quiz length). The default think time (10 s a question) keeps
200 users near 20 answers a second, under Telegram's 30 messages/s bot limit.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import localtime  # noqa: E402
from bot.config import Settings  # noqa: E402
from tests.bot_harness import prepare_bot_env  # noqa: E402
from tests.fake_bot_api import TOKEN, FakeBotApi, Sent  # noqa: E402


def answer(api: FakeBotApi, uid: int, sent: Sent, rng: random.Random) -> None:
    """Pick options at random, as a mixed-ability crowd would, and answer like Telegram sends it."""
    if sent.method == "sendPoll":
        options = sent.result["poll"]["options"]
        api.push(api.poll_answer(uid, sent.result["poll"]["id"], [rng.randrange(len(options))]))
        return
    buttons = [b["callback_data"] for row in sent.buttons for b in row]
    ticks = [b for b in buttons if b.startswith("mq:")]
    submit = next(b for b in buttons if b.startswith("ms:"))
    for data in rng.sample(ticks, 2):
        before = api.edits.get(uid, 0)
        api.push(api.callback(uid, data))
        deadline = time.monotonic() + 120
        while api.edits.get(uid, 0) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
    api.push(api.callback(uid, submit))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--questions", type=int, default=Settings().quiz_size)
    parser.add_argument("--think", type=float, default=10.0)
    parser.add_argument("--index", default="", help="an index of the corpus to start from (copied, not changed)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zlt-quiz-"))
    today = localtime.today(Settings().timezone)
    env = prepare_bot_env(work, args.index, {"BOT_QUIZ_SIZE": str(args.questions), "BOT_QUIZ_OPEN_PERIOD": "600",
                                             "BOT_QUIZ_CAMPAIGN": f"压测活动@{today}..{today}"})
    api = FakeBotApi().start()
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
                "TELEGRAM_API_FILE_URL": api.base_file_url})
    bot = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=dict(os.environ, **env),
                           stdout=subprocess.DEVNULL, stderr=open(work / "bot.log", "w"))
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def user(uid: int) -> None:
        rng = random.Random(uid)
        time.sleep(rng.uniform(0, args.think))
        try:
            name = "压测" + chr(0x4E00 + uid % 5000)  # a name of characters only, as /profile asks
            api.push(api.message(uid, f"/profile {name} 第{uid % 7}建筑公司 质量员"))
            api.wait_for_messages(uid, 1, timeout=300)
            api.push(api.message(uid, "/quiz"))
            for n in range(args.questions):
                sent = api.wait_for_questions(uid, n + 1, timeout=300)[n]
                time.sleep(rng.uniform(0.5 * args.think, 1.5 * args.think))
                pushed = time.perf_counter()
                answer(api, uid, sent, rng)
                if n + 1 < args.questions:
                    arrived = api.wait_for_questions(uid, n + 2, timeout=300)[n + 1].at
                    with lock:
                        latencies.append(arrived - pushed)
            api.wait_for(lambda s: s.chat_id == uid and "测验结束" in s.text, timeout=300)
        except (TimeoutError, StopIteration) as exc:
            failures.append(f"{uid}: {exc}")

    try:
        api.wait_for(lambda s: s.method == "setMyCommands", timeout=60)
        started = time.perf_counter()
        threads = [threading.Thread(target=user, args=(10_000 + i,)) for i in range(args.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        db = sqlite3.connect(work / "db.sqlite")
        answers = db.execute("select count(*) from quiz_answers").fetchone()[0]
        distinct = db.execute("select count(distinct attempt_id || ':' || idx) from quiz_answers").fetchone()[0]
        finished = db.execute("select count(*) from quiz_attempts where status = 'finished'").fetchone()[0]
        db_rows = db.execute("select id, score, passed from quiz_attempts order by id").fetchall()
        export = subprocess.run([sys.executable, "-m", "bot", "quiz", "export"], cwd=ROOT, capture_output=True,
                                text=True, env=dict(os.environ, **env), check=True).stdout
        exported = [(int(r["记录编号"]), int(r["成绩"]), int(r["考核结果"] == "合格"))
                    for r in csv.DictReader(io.StringIO(export))]
        credited = db.execute("select count(*) from quiz_attempts where mode = 'credited' and campaign_id is not null"
                              ).fetchone()[0]
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
        p95 = latencies[int(0.95 * len(latencies))] * 1000 if latencies else float("nan")
        print(f"{args.users} users x {args.questions} questions in {elapsed:.0f} s (think {args.think} s): "
              f"{answers} answers recorded ({distinct} distinct, expected {args.users * args.questions}), "
              f"{finished} attempts finished ({credited} credited), {len(failures)} users failed; "
              f"export matches database: "
              f"{exported == [tuple(r) for r in db_rows]} ({len(exported)} rows); answer -> next question "
              f"p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)
        polls = [s for s in api.sent if s.method == "sendPoll"]
        first_right = sum(0 in s.params.get("correct_option_ids", []) for s in polls if
                          len(s.params.get("correct_option_ids", [])) == 1 and len(s.params.get("options", [])) == 4)
        four = sum(len(s.params.get("correct_option_ids", [])) == 1 and len(s.params.get("options", [])) == 4
                   for s in polls)
        several = sum(len(s.params.get("correct_option_ids", [])) > 1 for s in polls)
        print(f"{len(polls)} quiz polls sent ({several} with several right options); in four-option single-choice "
              f"polls the right option was the first one in {first_right / max(1, four):.1%} of {four}", flush=True)
        for failure in failures[:5]:
            print("  failed:", failure)
    finally:
        bot.terminate()
        bot.wait(30)
        api.stop()


if __name__ == "__main__":
    main()
