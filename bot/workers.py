"""Bounded worker pools for blocking work, so that one slow job cannot stall the others.

The Telegram adapter keeps two: a *chat* pool for questions and quiz events (quiz events first), and a
*work* pool for re-indexing, uploads, LLM calls, exports and renders. Each has a fixed number of threads and
a bounded queue: when it is full, :meth:`WorkerPool.submit` raises :class:`Busy` at once and the user is
asked to try again, instead of every request waiting behind the backlog. Work that must not be lost (a quiz
answer, a timer) may pass a full queue; a *lane* caps how many jobs of one kind (LLM calls) are in flight.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

URGENT, NORMAL = 0, 1  # priorities: lower runs first


class Busy(Exception):
    """The pool (or the job's lane) is full; nothing was queued."""


class WorkerPool:
    """``workers`` threads taking jobs by priority; at most ``queue_limit`` jobs wait while all are busy."""

    def __init__(self, name: str, workers: int, queue_limit: int, lanes: dict[str, int] | None = None) -> None:
        self.name = name
        self.queue_limit = queue_limit
        self.lanes = dict(lanes or {})
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._waiting = 0
        self._idle = max(1, workers)
        self._in_lane: Counter[str] = Counter()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True)
                         for n in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet started."""
        return self._waiting

    def submit(self, fn: Callable[..., T], *args: Any, priority: int = NORMAL, must_run: bool = False,
               lane: str = "") -> Future[T]:
        """Queue ``fn(*args)``; raise Busy when the queue (or ``lane``) is full, unless ``must_run``."""
        future: Future[T] = Future()
        with self._lock:
            if not must_run and self._waiting >= self.queue_limit + self._idle:
                raise Busy(self.name)
            if lane and not must_run and self._in_lane[lane] >= self.lanes.get(lane, 1_000_000):
                raise Busy(f"{self.name}/{lane}")
            self._waiting += 1
            if lane:
                self._in_lane[lane] += 1
        self._queue.put((priority, next(self._order), fn, args, future, lane))
        return future

    async def run(self, fn: Callable[..., T], *args: Any, priority: int = NORMAL, must_run: bool = False,
                  lane: str = "") -> T:
        """:meth:`submit` and await the result on the running event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args, priority=priority, must_run=must_run, lane=lane))

    def shutdown(self) -> None:
        """Let the threads finish the job at hand and stop (queued jobs are dropped)."""
        for _ in self._threads:
            self._queue.put((-1, next(self._order), None, (), None, ""))

    def _work(self) -> None:
        while True:
            _, _, fn, args, future, lane = self._queue.get()
            if fn is None:
                return
            with self._lock:
                self._waiting -= 1
                self._idle -= 1
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # handed to whoever awaits the future
                        future.set_exception(exc)
            finally:
                with self._lock:
                    self._idle += 1
                    if lane:
                        self._in_lane[lane] -= 1
