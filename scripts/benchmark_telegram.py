"""Load benchmark: the real bot process (``python -m bot serve``) against the stand-in Bot API.

Simulated users (threads in this process, beside the stand-in server) ask questions; latency is measured
from the moment an update is handed out to the moment the bot's reply arrives. A second round runs while
an admin re-index is in progress. Every question must get exactly one answer.

With ``--llm-stall 20`` the bot is configured with a stand-in LLM endpoint on 127.0.0.1 that stalls: every
request waits out the bot's LLM timeout, set to 20 s (the stand-in answers only a second after it), in the
background of both rounds — the LLM summaries of answers and the phrasing of new articles at the re-index.

Usage: ``python scripts/benchmark_telegram.py [--users 20] [--questions 10] [--think 2.0] [--index DIR]
[--cold-reindex] [--llm-stall SECONDS]`` (BENCH_TRACE=1 prints every answer slower than 3 s)
(without --index, ../shared/corpus and knowledge/ are indexed into a temporary folder first).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.evaluation import load_questions  # noqa: E402
from tests.bot_harness import prepare_bot_env  # noqa: E402
from tests.fake_bot_api import TOKEN, FakeBotApi  # noqa: E402
from tests.fake_llm import FakeLLM  # noqa: E402

ADMIN = 999_999
BENCH_START = time.perf_counter()


def run_round(api: FakeBotApi, users: int, questions: list[str], per_user: int, first_user: int, think: float,
              during: threading.Thread | None = None) -> tuple[list[float], int, int]:
    """Each user asks ``per_user`` questions, waiting for each answer and ``think`` seconds (±50 %)."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures = []

    def user(uid: int) -> None:
        rng = random.Random(uid)
        time.sleep(rng.uniform(0, think))
        for n in range(per_user):
            question = questions[(uid * 7 + n) % len(questions)]
            before = len(api.messages_to(uid))
            update_id = api.push(api.message(uid, question))
            try:
                reply = api.wait_for_messages(uid, before + 1, timeout=120)[before]
            except TimeoutError:
                failures.append(uid)
                return
            with lock:
                latencies.append(reply.at - api.pushed_at[update_id])
                if os.environ.get("BENCH_TRACE") and latencies[-1] > 3:
                    print(f"  slow: user {uid} question {n} took {latencies[-1]:.1f} s "
                          f"(pushed at {api.pushed_at[update_id] - BENCH_START:.1f} s)", flush=True)
            time.sleep(rng.uniform(0.5 * think, 1.5 * think))

    threads = [threading.Thread(target=user, args=(first_user + i,)) for i in range(users)]
    if during is not None:
        during.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if during is not None:
        during.join()
    time.sleep(2.0)  # a stray second answer would arrive by now
    answers = sum(1 for i in range(users) for m in api.messages_to(first_user + i) if "语言模型" not in m.text)
    return latencies, answers, len(failures)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between a user's questions")
    parser.add_argument("--index", default="", help="an index of the corpus to start from (copied, not changed)")
    parser.add_argument("--cold-reindex", action="store_true",
                        help="empty the embedding cache first, so that the admin re-index embeds everything again")
    parser.add_argument("--llm-stall", type=float, default=0.0,
                        help="configure a stand-in LLM that hangs this many seconds on every request")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zlt-load-"))
    env = prepare_bot_env(work, args.index)
    api = FakeBotApi().start()
    env.update({
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_API_FILE_URL": api.base_file_url, "BOT_ADMIN_IDS": str(ADMIN),
    })
    llm = None
    if args.llm_stall:
        llm = FakeLLM(reply="需要检验。依据《建设工程质量管理条例》第二十九条。", hang=args.llm_stall + 1).start()
        env.update({"BOT_LLM_BASE_URL": llm.url, "BOT_LLM_MODEL": "stalled", "BOT_LLM_TIMEOUT": f"{args.llm_stall:g}"})
    verbose = ["-v"] if os.environ.get("BENCH_TRACE") else []
    bot = subprocess.Popen([sys.executable, "-m", "bot", *verbose, "serve"], cwd=ROOT, env=dict(os.environ, **env),
                           stdout=subprocess.DEVNULL, stderr=open(work / "bot.log", "w"))
    questions = [q["question"] for q in load_questions(sorted((ROOT.parent / "shared" / "eval").glob("dev_*.jsonl")))]
    try:
        api.wait_for(lambda s: s.method == "setMyCommands", timeout=60)
        api.push(api.message(1, "预热"))
        api.wait_for(lambda s: s.method == "sendMessage" and s.chat_id == 1, timeout=60)
        expected = args.users * args.questions
        latencies, answers, failed = run_round(api, args.users, questions, args.questions, 1000, args.think)
        print(f"{args.users} users x {args.questions} questions, think time {args.think} s: {answers} answers "
              f"for {expected} questions, {failed} users timed out; p50 {pct(latencies, .5) * 1000:.0f} ms, "
              f"p95 {pct(latencies, .95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms", flush=True)

        reindex: list[str] = []

        def admin_reindex() -> None:
            if args.cold_reindex:
                (work / "index" / "embeddings.sqlite").unlink(missing_ok=True)
            started = time.perf_counter()
            before = len(api.messages_to(ADMIN))
            api.push(api.message(ADMIN, "/reindex"))
            reply = api.wait_for_messages(ADMIN, before + 1, timeout=600)[before].text.splitlines()[0]
            reindex.append(f"{time.perf_counter() - started:.1f} s: {reply}")

        latencies, answers, failed = run_round(api, args.users, questions, args.questions, 5000, args.think,
                                               during=threading.Thread(target=admin_reindex))
        print(f"same while an admin re-index ran ({reindex[0] if reindex else 'no reply'}): {answers} answers "
              f"for {expected} questions, {failed} users timed out; p50 {pct(latencies, .5) * 1000:.0f} ms, "
              f"p95 {pct(latencies, .95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms", flush=True)
        if llm is not None:
            print(f"LLM stalled {args.llm_stall:g} s per call: {len(llm.requests)} calls made; "
                  f"{len(api.rejected)} calls refused by the stand-in Bot API", flush=True)
    finally:
        bot.terminate()
        bot.wait(30)
        api.stop()
        if llm is not None:
            llm.stop()


if __name__ == "__main__":
    main()
