"""The bounded pools: quiz events first, a polite refusal when full, lanes for LLM calls."""

from __future__ import annotations

import threading

import pytest

from bot.workers import URGENT, Busy, WorkerPool


def test_full_pool_refuses_at_once_but_work_that_must_run_is_queued() -> None:
    pool = WorkerPool("test", workers=1, queue_limit=1)
    release = threading.Event()
    running = pool.submit(release.wait)
    waiting = pool.submit(lambda: "queued")
    with pytest.raises(Busy):
        pool.submit(lambda: "refused")
    must = pool.submit(lambda: "quiz answer", must_run=True)
    release.set()
    assert running.result(5) and waiting.result(5) == "queued" and must.result(5) == "quiz answer"
    assert pool.submit(lambda: "room again").result(5) == "room again"
    pool.shutdown()


def test_urgent_jobs_overtake_the_queue() -> None:
    pool = WorkerPool("test", workers=1, queue_limit=10)
    release = threading.Event()
    order: list[str] = []
    pool.submit(release.wait)
    questions = [pool.submit(order.append, f"question {n}") for n in range(3)]
    quiz = pool.submit(order.append, "quiz answer", priority=URGENT)
    release.set()
    for future in [*questions, quiz]:
        future.result(5)
    assert order[0] == "quiz answer"
    pool.shutdown()


def test_a_lane_caps_one_kind_of_job_without_blocking_the_others() -> None:
    pool = WorkerPool("work", workers=3, queue_limit=4, lanes={"llm": 1})
    stalled = threading.Event()
    llm = pool.submit(stalled.wait, lane="llm")
    with pytest.raises(Busy):
        pool.submit(lambda: "second LLM call", lane="llm")
    assert pool.submit(lambda: "export").result(5) == "export"
    stalled.set()
    llm.result(5)
    assert pool.submit(lambda: "LLM again", lane="llm").result(5) == "LLM again"
    pool.shutdown()


def test_errors_reach_the_caller() -> None:
    pool = WorkerPool("test", workers=1, queue_limit=1)
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result(5)
    assert pool.submit(lambda: "still working").result(5) == "still working"
    pool.shutdown()
